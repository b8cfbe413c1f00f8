"""Completion -> graded sample; samples -> the verdict of one case x api x effort. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from harness.checks.judge import JudgeCheck
from harness.checks.regexes import quoted
from harness.models import Case, CheckResult, Completion, Judged, Outcome, SampleResult, Subject

FAILURE_CHARS = 300  # of the exception's message in "grading failed: ..."
# Checks that do not read the answer's text: their reasons stand when extract finds nothing.
NOT_ON_ANSWER = frozenset({"finished", "latency_ms", "tokens", "reasoning"})


def grade(
    case: Case,
    completion: Completion,
    index: int = 0,
    *,
    baseline_answer: str | None = None,
    judged: Mapping[int, Judged] | None = None,
) -> SampleResult:
    """Grade one sample. Errors and truncations are outcomes of their own, not check failures.
    ``baseline_answer`` is the answer kept in the baseline (``None`` when there is none); the
    case's ``extract`` applies to it as to the new answer, for the ``baseline`` check.
    ``judged`` holds, by index in ``case.checks``, the judge's verdicts for ``judge``
    checks; a judge without a valid verdict makes the sample an ``error``, never a pass.

    Never raises: when grading itself fails on a hostile answer (a RecursionError, a
    MemoryError, a bug) the sample is an ``error`` saying ``grading failed: ...``, and the
    run goes on."""
    try:
        return _grade(case, completion, index, baseline_answer, judged)
    except Exception as exc:
        return SampleResult(index, "error", 0.0, replace(completion, error=failure(exc)))


def failure(exc: BaseException) -> str:
    """What a sample whose grading raised says: ``grading failed: RecursionError: ...``."""
    message = str(exc)
    if len(message) > FAILURE_CHARS:
        message = message[:FAILURE_CHARS] + "..."
    return f"grading failed: {type(exc).__name__}" + (f": {message}" if message else "")


def _grade(
    case: Case,
    completion: Completion,
    index: int,
    baseline_answer: str | None,
    judged: Mapping[int, Judged] | None,
) -> SampleResult:
    if completion.error is not None:
        return SampleResult(index, "error", 0.0, completion)
    if completion.truncated:
        return SampleResult(index, "truncated", 0.0, completion)
    text, extracted = extract(case, completion.answer)
    baseline = None if baseline_answer is None else extract(case, baseline_answer)[0]
    judged = dict(judged or {})
    for number, bound in enumerate(case.checks):
        if isinstance(bound.run, JudgeCheck) and number not in judged:
            judged[number] = Judged(error="the judge was not asked")  # never a silent pass
    results = tuple(
        _weighted(
            bound.run(
                Subject(text, text, completion, baseline=baseline, judged=judged.get(number))
            ),
            bound.weight,
        )
        for number, bound in enumerate(case.checks)
    )
    if case.extract is not None and extracted is None:
        why = f"extract {quoted(case.extract.pattern)} did not match the answer"
        results = tuple(_unmatched(r, why) for r in results)
    total = sum(r.weight for r in results)
    score = 1.0 if total == 0 else sum(r.weight for r in results if r.passed) / total
    passed = all(r.passed for r in results) if case.threshold is None else score >= case.threshold
    failed = [j.error for j in judged.values() if j.error is not None]
    if failed:  # the answer is kept; the sample has no grade
        done = replace(completion, error=f"judge: {failed[0]}")
        return SampleResult(index, "error", 0.0, done, results, extracted)
    return SampleResult(index, "pass" if passed else "fail", score, completion, results, extracted)


def extract(case: Case, answer: str) -> tuple[str, str | None]:
    """``(text the checks see, what extract matched)``: the answer itself without
    ``extract``; the match (its first group if any) with it, ``""`` when it does not match."""
    if case.extract is None:
        return answer, None
    match = case.extract.search(answer)
    extracted = None if match is None else (match.group(1) if match.groups() else match.group(0))
    return extracted or "", extracted


def _unmatched(result: CheckResult, why: str) -> CheckResult:
    """A failed check that read the (empty) extracted text says that ``extract`` did not
    match, instead of "no number in answer"; so do the failed checks nested in it."""
    if result.passed or result.name in NOT_ON_ANSWER:
        return result
    children = tuple(_unmatched(c, why) for c in result.children)
    return replace(result, detail=why, children=children)


def _weighted(result: CheckResult, weight: float) -> CheckResult:
    if result.weight == weight:
        return result
    return CheckResult(
        result.name, result.passed, result.observed, result.detail, weight, result.children
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of one case x api x effort over its samples."""

    outcome: Outcome
    pass_rate: float
    passes: int
    samples: tuple[SampleResult, ...]
    min_pass_rate: float

    @property
    def score(self) -> float:
        return sum(s.score for s in self.samples) / len(self.samples) if self.samples else 0.0

    @property
    def counts(self) -> Counter[str]:
        return Counter(s.outcome for s in self.samples)

    def first_bad(self) -> SampleResult | None:
        """The sample to show in a failure report: a failed one first, then truncated, error."""
        for outcome in ("fail", "truncated", "error"):
            for sample in self.samples:
                if sample.outcome == outcome:
                    return sample
        return None


def verdict(case: Case, samples: Sequence[SampleResult]) -> Verdict:
    """Pass when the share of passing samples reaches ``min_pass_rate``. Otherwise the
    outcome is ``fail`` if any sample failed a check, else ``truncated``, else ``error``."""
    passes = sum(1 for s in samples if s.outcome == "pass")
    rate = passes / len(samples) if samples else 0.0
    outcomes = {s.outcome for s in samples}
    outcome: Outcome
    if samples and rate >= case.min_pass_rate:
        outcome = "pass"
    elif "fail" in outcomes or not samples:
        outcome = "fail"
    elif "truncated" in outcomes:
        outcome = "truncated"
    else:
        outcome = "error"
    return Verdict(outcome, rate, passes, tuple(samples), case.min_pass_rate)
