"""Checks on the answer's text: equality, substrings, prefixes and suffixes, regex, fuzzy
similarity (also to the baseline's answer), length.

On a JSON array (a ``json`` pointer, or ``fuzzy``'s own, selected one) the string checks
test its elements, each read as text (a string as is, anything else as JSON): ``contains``
and ``icontains`` pass when an element equals the text, ``contains_any`` / ``contains_all``
(and their ``icontains_`` twins) when some / all of the texts are elements, ``regex`` when
the pattern is found in an element, ``starts_with`` / ``ends_with`` when an element
(stripped) starts / ends with the text, ``fuzzy`` on the best element's score. ``equals``
and ``one_of`` compare the whole value, and ``length`` reads the JSON text, as on any other
value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.utils import default_process

from harness.checks.base import check_pointer, check_range, select, short
from harness.checks.jsontext import as_text
from harness.checks.regexes import UnsafePattern, compile_safe, quoted
from harness.errors import CheckSpecError
from harness.models import Check, CheckResult, Subject

SCORERS: dict[str, Callable[..., float]] = {
    "ratio": fuzz.ratio,
    "partial_ratio": fuzz.partial_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "partial_token_sort_ratio": fuzz.partial_token_sort_ratio,
    "partial_token_set_ratio": fuzz.partial_token_set_ratio,
    "WRatio": fuzz.WRatio,
    "QRatio": fuzz.QRatio,
}


def _strip_punctuation(text: str) -> str:
    """``normalize`` without ``ignore_case``: rapidfuzz's ``default_process`` but for its
    lowercasing (every character that is not a letter or digit becomes a space; trimmed)."""
    return "".join(c if c.isalnum() else " " for c in text).strip()


def _processor(ignore_case: bool, normalize: bool) -> Callable[[str], str] | None:
    """How ``fuzzy`` and ``baseline`` prepare both texts: ``ignore_case`` folds case, and
    nothing else; ``normalize`` also turns punctuation into spaces and trims (with
    ``ignore_case``, exactly rapidfuzz's ``default_process``, so old scores are kept)."""
    if normalize:
        return default_process if ignore_case else _strip_punctuation
    return str.casefold if ignore_case else None


def same(a: Any, b: Any) -> bool:
    """JSON equality: 36 == 36.0, but ``true`` is not 1 (as it would be in Python)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def _equal_to(subject: Subject, ignore_case: bool) -> tuple[Any, Callable[[Any], bool]]:
    """What the subject shows and a predicate comparing it with one expected value: JSON
    values by value, text (stripped) against the expected value written as JSON text."""
    if not isinstance(subject.value, str):
        return subject.value, lambda expected: same(subject.value, expected)
    text = subject.text.strip()

    def fold(s: str) -> str:
        return s.casefold() if ignore_case else s

    return text, lambda expected: fold(text) == fold(as_text(expected))


def _elements(subject: Subject) -> list[str] | None:
    """The texts of the elements when the subject's value is a JSON array, else ``None``."""
    if isinstance(subject.value, list):
        return [as_text(item) for item in subject.value]
    return None


def equals(*, value: Any, ignore_case: bool = False) -> Check:
    """The answer (or JSON value) equals ``value``."""

    def run(subject: Subject) -> CheckResult:
        observed, matches = _equal_to(subject, ignore_case)
        passed = matches(value)
        detail = "" if passed else f"expected {short(value)}, got {short(observed)}"
        return CheckResult("equals", passed, observed, detail)

    return run


def one_of(*, values: Sequence[Any], ignore_case: bool = False) -> Check:
    """The answer (or JSON value) equals one of ``values``."""
    if not values:
        raise CheckSpecError("values", "is empty; list at least one accepted value")

    def run(subject: Subject) -> CheckResult:
        observed, matches = _equal_to(subject, ignore_case)
        passed = any(matches(v) for v in values)
        detail = "" if passed else f"{short(observed)} is not one of {short(list(values))}"
        return CheckResult("one_of", passed, observed, detail)

    return run


def contains(*, value: str) -> Check:
    """The answer contains ``value`` (case-sensitive)."""

    def run(subject: Subject) -> CheckResult:
        elements = _elements(subject)
        if elements is not None:
            found = value in elements
            detail = "" if found else f"{value!r} is not an element of {short(subject.value)}"
            return CheckResult("contains", found, found, detail)
        found = value in subject.text
        return CheckResult("contains", found, found, "" if found else f"{value!r} not in answer")

    return run


def icontains(*, value: str) -> Check:
    """The answer contains ``value``, ignoring case."""
    needle = value.casefold()

    def run(subject: Subject) -> CheckResult:
        elements = _elements(subject)
        if elements is not None:
            found = needle in (e.casefold() for e in elements)
            of = short(subject.value)
            detail = "" if found else f"{value!r} is not an element of {of} (ignoring case)"
            return CheckResult("icontains", found, found, detail)
        found = needle in subject.text.casefold()
        detail = "" if found else f"{value!r} not in answer (ignoring case)"
        return CheckResult("icontains", found, found, detail)

    return run


def _present(values: Sequence[str], subject: Subject, fold: bool) -> tuple[list[str], bool]:
    """The ``values`` the answer contains (of a JSON array: those that are elements), with
    case folded when ``fold``; and whether the subject is an array."""
    elements = _elements(subject)
    where: str | list[str] = subject.text if elements is None else elements
    if not fold:
        return [v for v in values if v in where], elements is not None
    where = where.casefold() if isinstance(where, str) else [e.casefold() for e in where]
    return [v for v in values if v.casefold() in where], elements is not None


def _some(name: str, values: Sequence[str], fold: bool) -> Check:
    if not values:
        raise CheckSpecError("values", "is empty; list at least one string")
    case = " (ignoring case)" if fold else ""

    def run(subject: Subject) -> CheckResult:
        found, many = _present(values, subject, fold)
        what = "is an element" if many else "in answer"
        detail = "" if found else f"none of {short(list(values))} {what}{case}"
        return CheckResult(name, bool(found), found, detail)

    return run


def _every(name: str, values: Sequence[str], fold: bool) -> Check:
    if not values:
        raise CheckSpecError("values", "is empty; list at least one string")
    case = " (ignoring case)" if fold else ""

    def run(subject: Subject) -> CheckResult:
        found, many = _present(values, subject, fold)
        missing = [v for v in values if v not in found]
        detail = f"{'not elements:' if many else 'missing'} {short(missing)}{case}"
        return CheckResult(name, not missing, missing, detail if missing else "")

    return run


def contains_any(*, values: Sequence[str]) -> Check:
    """The answer contains at least one of ``values``; observed lists those found."""
    return _some("contains_any", values, fold=False)


def contains_all(*, values: Sequence[str]) -> Check:
    """The answer contains every one of ``values``; observed lists those missing."""
    return _every("contains_all", values, fold=False)


def icontains_any(*, values: Sequence[str]) -> Check:
    """``contains_any``, ignoring case (casefold)."""
    return _some("icontains_any", values, fold=True)


def icontains_all(*, values: Sequence[str]) -> Check:
    """``contains_all``, ignoring case (casefold)."""
    return _every("icontains_all", values, fold=True)


def _affix(name: str, value: str, ignore_case: bool, end: bool) -> Check:
    """``starts_with`` (or, with ``end``, ``ends_with``): on the answer stripped; on a JSON
    array, on each element (read as text, stripped), observing the first that does."""
    edge = "ends" if end else "starts"
    if not value:
        raise CheckSpecError("value", f"is empty; every answer {edge} with ''")
    expected = value.casefold() if ignore_case else value
    case = " (ignoring case)" if ignore_case else ""

    def opening(text: str) -> str:  # the part of ``text`` compared with ``value``
        return text[-len(value) :] if end else text[: len(value)]

    def has(text: str) -> bool:
        # Casefolding never shortens a character, so folding the answer's opening of
        # len(expected) characters is enough (no need to fold a long answer whole).
        if not ignore_case:
            return text.endswith(value) if end else text.startswith(value)
        part = (text[-len(expected) :] if end else text[: len(expected)]).casefold()
        return part.endswith(expected) if end else part.startswith(expected)

    def run(subject: Subject) -> CheckResult:
        elements = _elements(subject)
        if elements is not None:
            hit = next((e for e in (e.strip() for e in elements) if has(e)), None)
            detail = "" if hit is not None else f"no element {edge} with {short(value)}{case}"
            return CheckResult(name, hit is not None, hit, detail)
        text = subject.text.strip()
        passed = has(text)
        seen = opening(text)
        detail = "" if passed else f"answer {edge} with {short(seen)}, not {short(value)}{case}"
        return CheckResult(name, passed, seen, detail)

    return run


def starts_with(*, value: str, ignore_case: bool = False) -> Check:
    """The answer, stripped, starts with ``value``; observed is its opening (as long as
    ``value``)."""
    return _affix("starts_with", value, ignore_case, end=False)


def ends_with(*, value: str, ignore_case: bool = False) -> Check:
    """The answer, stripped, ends with ``value``; observed is its ending (as long as
    ``value``)."""
    return _affix("ends_with", value, ignore_case, end=True)


def regex(
    *, pattern: str, ignore_case: bool = False, multiline: bool = False, dotall: bool = False
) -> Check:
    """``pattern`` (Python's syntax, run by RE2 in linear time: see ``harness.checks.regexes``)
    finds a match in the answer; observed is the matched text."""
    flags = (
        (re.IGNORECASE if ignore_case else 0)
        | (re.MULTILINE if multiline else 0)
        | (re.DOTALL if dotall else 0)
    )
    try:
        compiled = compile_safe(pattern, flags)
    except UnsafePattern as exc:
        raise CheckSpecError("pattern", f"{quoted(pattern)}: {exc}") from None

    def run(subject: Subject) -> CheckResult:
        elements = _elements(subject)
        for text in [subject.text] if elements is None else elements:
            match = compiled.search(text)
            if match is not None:
                return CheckResult("regex", True, match.group(0))
        what = "no match for" if elements is None else "no element matches"
        return CheckResult("regex", False, None, f"{what} /{pattern}/")

    return run


def fuzzy(
    *,
    value: str,
    min: float = 80,
    scorer: str = "ratio",
    ignore_case: bool = True,
    normalize: bool = False,
    pointer: str | None = None,
) -> Check:
    """rapidfuzz ``scorer`` similarity (0-100) between ``value`` and the answer (or the JSON
    value at ``pointer``) is at least ``min``; observed is the score. ``ignore_case`` folds
    case only, so ``min: 100`` is an exact match but for case; ``normalize`` also ignores
    punctuation and surrounding spaces."""
    if not 0 <= min <= 100:
        raise CheckSpecError("min", f"{min} is outside 0-100")
    if scorer not in SCORERS:
        raise CheckSpecError("scorer", f"unknown scorer {scorer!r}; allowed: {', '.join(SCORERS)}")
    if pointer is not None:
        check_pointer(pointer)
    score_of = SCORERS[scorer]
    processor = _processor(ignore_case, normalize)
    threshold = min

    def run(subject: Subject) -> CheckResult:
        selected: Any = subject.value
        if pointer is not None:
            found, selected, why = select(subject, pointer)
            if not found:
                return CheckResult("fuzzy", False, None, why)
        many = isinstance(selected, list)  # an array: the best element's score
        if many:
            texts = [as_text(item) for item in selected]
        else:
            texts = [subject.text if pointer is None else as_text(selected)]
        score = max((float(score_of(value, t, processor=processor)) for t in texts), default=0.0)
        passed = score >= threshold
        what = f"best of {len(texts)} elements scores" if many else "score"
        detail = "" if passed else f"{what} {score:.1f} < min {threshold:g}"
        return CheckResult("fuzzy", passed, round(score, 1), detail)

    return run


def length(
    *,
    min_chars: int | None = None,
    max_chars: int | None = None,
    min_words: int | None = None,
    max_words: int | None = None,
) -> Check:
    """The answer's length (stripped) in characters and whitespace-separated words is
    within the bounds given; observed is ``{"chars": n, "words": n}``."""
    bounds = {"min_chars": min_chars, "max_chars": max_chars}
    bounds |= {"min_words": min_words, "max_words": max_words}
    if all(b is None for b in bounds.values()):
        raise CheckSpecError("", f"set at least one of {', '.join(bounds)}")
    check_range("min_chars", min_chars, "max_chars", max_chars)
    check_range("min_words", min_words, "max_words", max_words)

    def run(subject: Subject) -> CheckResult:
        text = subject.text.strip()
        counts = {"chars": len(text), "words": len(text.split())}
        problems = []
        for key, bound in bounds.items():
            if bound is None:
                continue
            kind, unit = key.split("_")
            count = counts[unit]
            if (kind == "min" and count < bound) or (kind == "max" and count > bound):
                relation = "<" if kind == "min" else ">"
                problems.append(f"{count} {unit} {relation} {key} {bound}")
        return CheckResult("length", not problems, counts, "; ".join(problems))

    return run


def baseline(
    *, min: float = 80, scorer: str = "ratio", ignore_case: bool = True, normalize: bool = True
) -> Check:
    """rapidfuzz ``scorer`` similarity (0-100) between the answer and the baseline's answer
    (both after ``extract``) is at least ``min``; observed is the score. ``ratio`` (the
    default, as for ``fuzzy``) scores the whole text, so added or dropped words count
    against it. ``ignore_case`` and ``normalize`` as for ``fuzzy``, but ``normalize`` is on
    by default: two answers of one model differ in punctuation and spacing as noise, and
    the scores of baselines kept before ``normalize`` existed stay the same. With no
    baseline answer yet the check passes with observed ``None``."""
    if not 0 <= min <= 100:
        raise CheckSpecError("min", f"{min} is outside 0-100")
    if scorer not in SCORERS:
        raise CheckSpecError("scorer", f"unknown scorer {scorer!r}; allowed: {', '.join(SCORERS)}")
    score_of = SCORERS[scorer]
    processor = _processor(ignore_case, normalize)
    threshold = min

    def run(subject: Subject) -> CheckResult:
        if subject.baseline is None:
            return CheckResult("baseline", True, None, "no baseline answer yet")
        score = float(score_of(subject.baseline, subject.text, processor=processor))
        passed = score >= threshold
        detail = ""
        if not passed:
            was = short(subject.baseline)
            detail = f"score {score:.1f} < min {threshold:g} against the baseline answer {was}"
        return CheckResult("baseline", passed, round(score, 1), detail)

    return run
