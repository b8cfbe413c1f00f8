"""pytest collection nodes: a suite file and its case x api x effort items."""

from __future__ import annotations

import concurrent.futures
import json
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checks.grading import Verdict, extract, failure, grade, verdict
from harness.checks.judge import JudgeCheck
from harness.engine.client import build_request
from harness.engine.parse import error_completion
from harness.errors import AuthError, SuiteError
from harness.gate.baseline import change, entry_key, make_entry
from harness.gate.records import sample_record
from harness.models import Api, Case, Completion, Judged, SampleResult, Suite, arm
from harness.plugin.judging import has_judge, judge_answer
from harness.plugin.stash import STATE
from harness.plugin.state import RunState
from harness.reports.terminal import failure_text, record, regression_text
from harness.secret import redact, redact_value
from harness.suites.loader import load_suite
from harness.suites.sampling import in_shard

Graded = SampleResult | Coroutine[None, None, SampleResult]  # what an answer's callback gives


class SuiteFile(pytest.File):
    """A YAML suite; collection fails with every problem of the file, one line each."""

    def collect(self) -> Iterator[CaseItem]:
        state = self.config.stash[STATE]
        display = (
            self.path.relative_to(self.config.rootpath).as_posix()
            if self.path.is_relative_to(self.config.rootpath)
            else str(self.path)
        )
        try:
            suite = load_suite(
                self.path,
                evals_dir=state.evals_dir,
                display=display,
                project_root=self.config.rootpath,
            )
        except SuiteError as exc:
            raise self.CollectError(str(exc)) from None
        settings = state.settings
        if settings.budgets is not None and any(b is not None for b in settings.budgets):
            with_responses = [c.id for c in suite.cases if "responses" in (settings.apis or c.apis)]
            if with_responses:
                raise self.CollectError(
                    f"{display}: --glm-budget: thinking budgets are Chat only (vLLM ignores "
                    "thinking_token_budget on Responses), and cases of this suite run on "
                    f"responses ({', '.join(dict.fromkeys(with_responses[:5]))}"
                    f"{', ...' if len(with_responses) > 5 else ''}); add --glm-api chat"
                )
        chosen = state.note_suite(suite)  # --glm-sample: the case ids to run (None: all)
        shard = settings.shard
        for case in suite.cases:
            if chosen is not None and case.id not in chosen:
                continue
            if shard is not None and not in_shard(suite.name, case.id, *shard):
                continue
            if settings.prompts is not None and case.variant not in settings.prompts:
                continue
            for api in settings.apis or case.apis:
                for effort in settings.efforts or case.efforts:
                    for budget in settings.budgets or case.budgets:
                        yield CaseItem.from_parent(
                            self,
                            name=f"{case.id}[{arm(case.variant, api, effort, budget)}]",
                            suite=suite,
                            case=case,
                            api=api,
                            effort=effort,
                            budget=budget,
                        )


class CaseFailed(Exception):
    """Raised by ``runtest`` when the verdict is not a pass; carries the report text."""

    def __init__(self, text: str) -> None:
        text = redact(text)  # shown in the terminal and the JUnit XML
        super().__init__(text)
        self.text = text


class CaseItem(pytest.Item):
    """One case x api x effort: its samples are sent, graded and judged together."""

    def __init__(
        self, *, suite: Suite, case: Case, api: Api, effort: str, budget: int | None = None,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.suite = suite
        self.case = case
        self.api: Api = api
        self.effort = effort
        self.budget = budget
        self.futures: list[concurrent.futures.Future[SampleResult]] = []

    @property
    def samples(self) -> int:
        return self.config.stash[STATE].settings.samples or self.case.samples

    def schedule(self, state: RunState) -> None:
        """Send this item's requests now; ``runtest`` collects the answers."""
        if self.futures:
            return
        engine = state.engine()
        request = build_request(
            self.api,
            messages=self.case.messages,
            effort=self.effort,
            params=self.case.params,
            model=state.settings.model,
            structured_output=self.case.structured_output,
            stream=self.case.stream or state.settings.stream,
            budget=self.budget,
            tools=self.case.tools,
            tool_choice=self.case.tool_choice,
        )
        budget = self.case.params.get("max_output_tokens")
        where: dict[str, str | int] = {"suite": self.suite.name, "case": self.case.id}
        if self.case.variant:  # and where it stands in prompts: (compare's reference order)
            where |= {"variant": self.case.variant}
            where |= {"variant_index": self.suite.variants.index(self.case.variant)}
        where |= {"api": self.api, "effort": self.effort}
        where |= {"budget": self.budget} if self.budget is not None else {}

        baseline_answer: str | None = None  # for `baseline` checks; read here, on the main thread
        if not state.update_baselines:
            key = entry_key(self.case.id, self.api, self.effort, self.case.variant, self.budget)
            known, _ = state.baseline_entry(self.suite.name, key)
            answer = known.get("answer") if known else None
            baseline_answer = answer if isinstance(answer, str) and answer else None

        judged = has_judge(self.case)

        def graded(index: int) -> Callable[[Completion, int], Graded]:
            def finish(
                completion: Completion, attempts: int, verdicts: dict[int, Judged] | None = None
            ) -> SampleResult:
                result = grade(
                    self.case, completion, index, baseline_answer=baseline_answer, judged=verdicts
                )
                state.record(sample_record(where, request, result, attempts))
                return result

            async def judge_then_finish(
                completion: Completion, attempts: int, text: str
            ) -> SampleResult:
                try:
                    verdicts = await judge_answer(engine, state.settings, self.case, text)
                except AuthError:
                    raise
                except Exception as exc:  # a bug must not lose the sample: grade() says so
                    why = Judged(error=failure(exc))
                    checks = enumerate(self.case.checks)
                    verdicts = {n: why for n, b in checks if isinstance(b.run, JudgeCheck)}
                return await engine.offload(finish, completion, attempts, verdicts)

            def then(completion: Completion, attempts: int) -> Graded:
                # runs in the engine's grading threads as soon as the answer is in
                if judged and completion.error is None and not completion.truncated:
                    try:
                        text = extract(self.case, completion.answer)[0]
                    except Exception:  # grade() records why, with the same extract
                        return finish(completion, attempts)
                    return judge_then_finish(completion, attempts, text)  # awaited on the loop
                return finish(completion, attempts)

            return then

        self.futures = [
            engine.submit(request, graded(index), sample=index, max_output_tokens=budget)
            for index in range(self.samples)
        ]

    def runtest(self) -> None:
        state = self.config.stash[STATE]
        self.schedule(state)
        graded = []
        refused: AuthError | None = None
        for index, future in enumerate(self.futures):
            try:
                graded.append(future.result())
            except AuthError as exc:
                refused = exc
                message = f"the endpoint refused the credentials: {exc}"
                graded.append(grade(self.case, error_completion(exc.status, 0.0, message), index))
        result = verdict(self.case, graded)
        summary = record(self.suite.name, self.case, self.api, self.effort, result, self.budget)
        summary["suite_path"] = str(self.path)
        if self.suite.name in state.sampled:  # --glm-sample: [cases run, cases in the suite]
            summary["sampled"] = list(state.sampled[self.suite.name])
        if refused is not None:
            summary["auth_refused"] = True
            self.session.shouldstop = (
                f"glm-harness: the endpoint refused the credentials: {refused}"
            )
        if state.update_baselines:
            self.record_baseline(state, result, summary)
        else:
            self.judge(state, result, summary)

    def record_baseline(self, state: RunState, result: Verdict, summary: dict[str, Any]) -> None:
        """--glm-update-baselines: judged on its checks alone; the entry goes to the plugin,
        which writes the files at the end of the run (one writer, also under xdist)."""
        entry = make_entry(
            self.case,
            self.api,
            self.effort,
            result,
            budget=self.budget,
            model=state.settings.model,
            evals_dir=state.evals_dir,
        )
        key = entry_key(self.case.id, self.api, self.effort, self.case.variant, self.budget)
        summary["change"] = "new"
        self.keep(("glm", summary))
        if result.outcome == "error":
            raise CaseFailed(
                self.describe(result) + "\n(an API error is never written as a baseline)"
            )
        self.keep(("glm-baseline", {"suite": self.suite.name, "key": key, "entry": entry}))
        if result.outcome != "pass":
            # accepted: the run exits as a clean one would once the file is written
            pytest.xfail(f"written as its baseline: {result.outcome} (a known failure from now on)")

    def judge(self, state: RunState, result: Verdict, summary: dict[str, Any]) -> None:
        """The outcome against the baseline: known failures xfail, regressions fail with
        the baseline answer beside the new one, new items are judged on their checks."""
        key = entry_key(self.case.id, self.api, self.effort, self.case.variant, self.budget)
        known, unused = state.baseline_entry(self.suite.name, key)
        if unused is not None:
            summary["baseline_note"] = unused
        summary["change"] = how = change(known, result.outcome)
        if known is not None:
            summary["baseline_outcomes"] = list(known.get("outcomes", []))
        sampled = how == "regression" and known is not None and len(result.samples) > 1
        if sampled:
            # Sampled answers: one case's drop is noise until the paired test over the
            # suite's cases says otherwise (it gates the run at the end).
            summary["change"] = "worse"
        if how in ("regression", "improved") and known is not None:  # shown beside the new one
            summary["baseline_answer"] = str(known.get("answer", ""))
            summary["baseline_date"] = str(known.get("date", ""))
        self.keep(("glm", summary))  # whole now: it is kept as JSON text
        if sampled and known is not None:
            pytest.xfail(
                f"pass rate {known.get('pass_rate')} in the baseline, {result.pass_rate:.2f} now; "
                "the paired test over the suite decides whether this is a regression"
            )
        if how == "known failure" and known is not None:
            pytest.xfail(
                f"known failure (baseline of {known.get('date')}: {known.get('outcome')}, "
                f"pass rate {known.get('pass_rate')}); still {result.outcome}"
            )
        if how == "regression" and known is not None:
            raise CaseFailed(regression_text(self.describe(result), known, result))
        if result.outcome != "pass":
            raise CaseFailed(self.describe(result))

    def describe(self, result: Verdict) -> str:
        return failure_text(self.suite.path, self.case, self.api, self.effort, result, self.budget)

    def keep(self, prop: tuple[str, Any]) -> None:
        """Add ``prop`` to the item's user properties as JSON text, every live secret
        masked: pytest's JUnit XML writes ``str(value)`` (a dict would be a Python repr),
        and xdist carries text to the controller as it is (:func:`hooks.glm_properties`
        reads it back)."""
        value = json.dumps(redact_value(prop[1]), sort_keys=True, default=str)
        self.user_properties.append((prop[0], value))

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        if isinstance(excinfo.value, CaseFailed):
            return excinfo.value.text
        if isinstance(excinfo.value, pytest.xfail.Exception):
            # a known failure: pytest shows the reason, never this text, and formatting the
            # traceback (an ast.parse of every frame's file) cost 95 ms an item
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        if self.case.defined_in:  # a dataset row: its line in the dataset file
            evals_dir = self.config.stash[STATE].evals_dir
            return evals_dir.parent / self.case.defined_in, self.case.line - 1, self.name
        return self.path, self.case.line - 1, self.name
