"""Checks that measure how close the answer is to an expected text: ``levenshtein`` (edit
distance) and ``f1`` (token overlap, as SQuAD and openai evals score it). ``fuzzy`` and
``baseline`` (rapidfuzz ratios) are in :mod:`harness.checks.text`.

Both read the answer stripped; on a JSON array (a ``json`` pointer selected one) they
score each element (read as text) and keep the best, as ``fuzzy`` does.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein

from harness.checks.base import check_float_sized, short
from harness.checks.jsontext import as_text
from harness.errors import CheckSpecError
from harness.models import Check, CheckResult, Subject

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _texts(subject: Subject) -> list[str]:
    """What is scored: the answer stripped, or each element of a JSON array."""
    if isinstance(subject.value, list):
        return [as_text(item).strip() for item in subject.value]
    return [subject.text.strip()]


def levenshtein(*, value: str, max_distance: int, ignore_case: bool = False) -> Check:
    """The edit distance (insertions, deletions, substitutions) between the stripped answer
    and ``value`` is at most ``max_distance``; observed is the distance. ``ignore_case``
    folds case first."""
    if isinstance(max_distance, float) and not float(max_distance).is_integer():
        raise CheckSpecError("max_distance", f"{max_distance!r} is not a whole number")
    if max_distance < 0:
        raise CheckSpecError("max_distance", f"{max_distance} is negative; it must be 0 or more")
    processor = str.casefold if ignore_case else None
    limit = int(max_distance)

    def run(subject: Subject) -> CheckResult:
        texts = _texts(subject)
        if not texts:
            return CheckResult("levenshtein", False, None, "the array is empty")
        distance = min(Levenshtein.distance(value, t, processor=processor) for t in texts)
        passed = distance <= limit
        best = f"best of {len(texts)} elements: " if isinstance(subject.value, list) else ""
        detail = "" if passed else f"{best}distance {distance} > max_distance {limit}"
        return CheckResult("levenshtein", passed, distance, detail)

    return run


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation (openai evals' ``normalize``): lowercase, drop ASCII
    punctuation, drop the articles a / an / the, collapse whitespace."""
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _tokens(text: str) -> tuple[Counter[str], int]:
    words = normalize_answer(text).split()
    return Counter(words), len(words)


def _f1(got: tuple[Counter[str], int], want: tuple[Counter[str], int]) -> float:
    common = sum((got[0] & want[0]).values())
    if common == 0:
        return 0.0
    precision, recall = common / got[1], common / want[1]
    return 2 * precision * recall / (precision + recall)


def f1_score(answer: str, expected: str) -> float:
    """Token-overlap F1 of ``answer`` against ``expected``, both normalised."""
    return _f1(_tokens(answer), _tokens(expected))


def f1(*, value: str | Sequence[str], min: float) -> Check:
    """Token-overlap F1 (0-1) between the answer and ``value`` (or the best of a list of
    acceptable answers), after SQuAD's normalisation, is at least ``min``; observed is the
    score, rounded to 3 decimals."""
    answers = [value] if isinstance(value, str) else list(value)
    if not answers:
        raise CheckSpecError("value", "is empty; list at least one acceptable answer")
    for index, answer in enumerate(answers):
        if not normalize_answer(answer):
            where = "value" if isinstance(value, str) else f"value[{index}]"
            raise CheckSpecError(
                where, f"{short(answer)} has no words left once normalised (no punctuation, "
                "no a / an / the), so no answer could overlap it",
            )  # fmt: skip
    check_float_sized("min", min)
    if not 0 <= min <= 1:  # NaN too
        raise CheckSpecError("min", f"{min} is outside 0-1")
    threshold = min
    wanted = [_tokens(a) for a in answers]

    def run(subject: Subject) -> CheckResult:
        texts = [_tokens(t) for t in _texts(subject)]
        score = max((_f1(t, w) for t in texts for w in wanted), default=0.0)
        passed = score >= threshold
        what = "best f1" if len(texts) * len(wanted) > 1 else "f1"
        detail = "" if passed else f"{what} {score:.3f} < min {threshold:g}"
        return CheckResult("f1", passed, round(score, 3), detail)

    return run
