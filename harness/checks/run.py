"""Checks on how the answer was produced: finish, latency, token counts."""

from __future__ import annotations

from harness.checks.base import check_float_sized, check_range
from harness.errors import CheckSpecError
from harness.models import Check, CheckResult, Subject


def finished(*, value: bool) -> Check:
    """``true``: the answer was not truncated by the token budget; ``false``: it was."""

    def run(subject: Subject) -> CheckResult:
        completion = subject.completion
        passed = completion.truncated != value
        detail = ""
        if not passed:
            state = "truncated" if completion.truncated else "not truncated"
            detail = f"answer was {state} (finish: {completion.finish})"
        return CheckResult("finished", passed, completion.finish, detail)

    return run


def latency_ms(*, max: float) -> Check:
    """The request took at most ``max`` milliseconds."""
    check_float_sized("max", max)
    if max < 0:
        raise CheckSpecError("max", f"{max} is negative; it must be 0 or more")
    limit = max

    def run(subject: Subject) -> CheckResult:
        took = subject.completion.latency_ms
        passed = took <= limit
        detail = "" if passed else f"latency {took:g} ms > max {limit:g} ms"
        return CheckResult("latency_ms", passed, took, detail)

    return run


def tokens(
    *,
    max_output: int | None = None,
    max_reasoning: int | None = None,
    max_input: int | None = None,
    min_reasoning: int | None = None,
) -> Check:
    """Token counts the server reported are within bounds. A bound on a count the server
    did not report fails. Observed is ``{"input": n, "output": n, "reasoning": n}``."""
    # (bound key, usage count, is an upper bound, bound)
    bounds = [
        ("max_input", "input", True, max_input),
        ("max_output", "output", True, max_output),
        ("max_reasoning", "reasoning", True, max_reasoning),
        ("min_reasoning", "reasoning", False, min_reasoning),
    ]
    if all(bound is None for *_, bound in bounds):
        raise CheckSpecError("", f"set at least one of {', '.join(key for key, *_ in bounds)}")
    check_range("min_reasoning", min_reasoning, "max_reasoning", max_reasoning)
    for key, _, _, bound in bounds:
        if bound is not None and bound < 0:
            raise CheckSpecError(key, f"{bound} is negative; it must be 0 or more")

    def run(subject: Subject) -> CheckResult:
        usage = subject.completion.usage
        counts = {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "reasoning": usage.reasoning_tokens,
        }
        problems = []
        for key, name, upper, bound in bounds:
            if bound is None:
                continue
            count = counts[name]
            if count is None:
                problems.append(f"{key}: {name} tokens were not reported by the server")
            elif upper and count > bound:
                problems.append(f"{count} {name} tokens > {key} {bound}")
            elif not upper and count < bound:
                problems.append(f"{count} {name} tokens < {key} {bound}")
        return CheckResult("tokens", not problems, counts, "; ".join(problems))

    return run
