"""The --glm-* options, their ini twins, and the run's settings resolved from them, the
environment and the ini file (once, at configure time). Cheap to import: the harness's
own modules are imported inside the functions."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.settings.values import Settings

# option, ini twin (or None), help
OPTIONS: list[tuple[str, str | None, dict[str, Any]]] = [
    ("--glm-base-url", "glm_base_url", {"help": "endpoint base URL (else GLM_BASE_URL, ini)"}),
    (
        "--glm-model",
        "glm_model",
        {"help": "model sent in requests (else GLM_MODEL, ini, GLM-4.7-Flash)"},
    ),
    ("--glm-api", "glm_api", {"help": "override the suites' APIs: chat,responses"}),
    (
        "--glm-effort",
        "glm_effort",
        {"help": "override the suites' efforts: default,none,...,xhigh,max"},
    ),
    (
        "--glm-budget",
        "glm_budget",
        {"help": "override the suites' thinking budgets (Chat): 256,1024,none"},
    ),
    ("--glm-samples", None, {"type": int, "help": "override the samples per case"}),
    (
        "--glm-prompt",
        "glm_prompt",
        {"help": "run only these prompt variants of suites with prompts: (terse,careful)"},
    ),
    (
        "--glm-sample",
        None,
        {"type": int, "help": "run N cases per suite, chosen by a seeded hash of the case id"},
    ),
    ("--glm-seed", None, {"type": int, "help": "seed of --glm-sample's choice (default 0)"}),
    (
        "--glm-shard",
        None,
        {"help": "run share K of N of every suite's cases (K/N, e.g. 2/4); merge the runs"},
    ),
    (
        "--glm-concurrency",
        "glm_concurrency",
        {"type": int, "help": "requests in flight (default 8)"},
    ),
    (
        "--glm-timeout",
        "glm_timeout",
        {"type": float, "help": "deadline in seconds for each attempt, streams included (180)"},
    ),
    (
        "--glm-max-reply-mb",
        "glm_max_reply_mb",
        {"type": float, "help": "largest reply in MiB, on the wire and decompressed (16)"},
    ),
    ("--glm-retries", "glm_retries", {"type": int, "help": "retries per request (default 4)"}),
    ("--glm-cache", "glm_cache", {"help": "answer cache: use (default), refresh, off, only"}),
    ("--glm-results", "glm_results", {"help": "results folder (default results/)"}),
    (
        "--glm-judge-base-url",
        "glm_judge_base_url",
        {"help": "judge endpoint (else GLM_JUDGE_BASE_URL, ini; default: the run's endpoint)"},
    ),
    (
        "--glm-judge-model",
        "glm_judge_model",
        {"help": "judge model (else GLM_JUDGE_MODEL, ini; default: the run's model)"},
    ),
    (
        "--glm-judge-effort",
        "glm_judge_effort",
        {"help": "judge reasoning effort: default (no field), none, ..., xhigh"},
    ),
    ("--glm-judge-api", "glm_judge_api", {"help": "judge API: chat (default) or responses"}),
    ("--glm-changed-since", None, {"help": "run only suites whose files changed since GITREF"}),
    ("--glm-report", None, {"help": "write a Markdown report (PR comment, step summary)"}),
]
INI_DEFAULTS = {
    "glm_concurrency": "8",
    "glm_timeout": "180",
    "glm_max_reply_mb": "16",
    "glm_retries": "4",
    "glm_cache": "use",
    "glm_results": "results",
}


def add_options(parser: pytest.Parser) -> None:
    """Register the --glm-* options and their ini twins."""
    group = parser.getgroup("glm-harness", "glm-harness: evaluate prompts against a model endpoint")
    group.addoption(
        "--glm-suite",
        action="store_true",
        default=False,
        help="collect and run the YAML suites (default: every suite under suites/)",
    )
    group.addoption(
        "--glm-local",
        action="store_true",
        default=False,
        help="start the local llama.cpp model server and run against it",
    )
    group.addoption(
        "--glm-stream",
        action="store_true",
        default=False,
        help="stream every request (SSE) and record time to first token",
    )
    group.addoption(
        "--glm-update-baselines",
        action="store_true",
        default=False,
        help="write the selected items' results as their new baselines",
    )
    group.addoption(
        "--glm-prune-baselines",
        action="store_true",
        default=False,
        help="remove baseline entries whose case x api x effort no longer exists",
    )
    group.addoption(
        "--glm-canary",
        action="store_const",
        const="always",
        dest="glm_canary",
        default=None,
        help="probe the endpoint before the run even without baselines (ini glm_canary)",
    )
    group.addoption(
        "--glm-no-canary",
        action="store_const",
        const="never",
        dest="glm_canary",
        help="send no canary probes, even before a gating run",
    )
    parser.addini(
        "glm_canary",
        "canaries before a run: auto (when a collected suite has baselines), always, never",
        default="auto",
    )
    for flag, ini, extra in OPTIONS:
        group.addoption(flag, default=None, **extra)
        if ini is not None:
            parser.addini(ini, extra["help"], default=INI_DEFAULTS.get(ini, ""))
    parser.addini(
        "glm_headers",
        "extra request headers, one 'Name: value' a line",
        type="linelist",
        default=[],
    )
    parser.addini("glm_suites_dir", "folder of suites, relative to rootdir", default="suites")
    parser.addini("glm_evals_dir", "templates and schemas, relative to rootdir", default="evals")


VALUE_FLAGS = frozenset(flag for flag, _, _ in OPTIONS)  # the options that take a value
MOVED_ROOTDIR = pytest.StashKey[str]()  # why the rootdir cannot be trusted (in-process runs)


def joined(args: Sequence[str]) -> list[str]:
    """``args`` with every ``--glm-x VALUE`` written as ``--glm-x=VALUE``."""
    out: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg in VALUE_FLAGS and index + 1 < len(args):
            out.append(f"{arg}={args[index + 1]}")
            index += 2
        else:
            out.append(arg)
            index += 1
    return out


def taken_for_paths(args: Sequence[str], here: Path) -> list[tuple[str, str]]:
    """The ``(--glm-x, VALUE)`` pairs given apart that name an existing path outside
    ``here``: pytest chooses its rootdir (and ini file) before the plugin's options are
    registered, so such a VALUE counts as a test path then, and the rootdir moves to it
    (pytest issue 1435). A path under ``here`` leads to the same rootdir, so it is left be."""
    found = []
    for flag, value in itertools.pairwise(args):
        if flag in VALUE_FLAGS and not value.startswith("-"):
            path = (here / value).resolve()
            if path.exists() and not path.is_relative_to(here.resolve()):
                found.append((flag, value))
    return found


def rerun_if_rootdir_moved(config: pytest.Config) -> None:
    """Called as the plugin's options are registered, before capture starts: when an option's
    value moved the rootdir, run pytest again, in this process, with ``--glm-x=VALUE``
    (which pytest's early parse skips as an unknown option). Where the arguments are not
    this process's own (``pytest.main()`` from code), the run stops at configure time
    with one line saying how to write it instead."""
    args = list(config.invocation_params.args)
    if "--glm-suite" not in args:
        return
    moved = taken_for_paths(args, config.invocation_params.dir)
    if not moved:
        return
    given = len(sys.argv) - 1
    prefix = sys.orig_argv[: len(sys.orig_argv) - given]
    if sys.argv[1:] == args and sys.orig_argv[len(prefix) :] == args and prefix:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [*prefix, *joined(args)])  # noqa: S606 (this very command)
    flag, value = moved[0]
    config.stash[MOVED_ROOTDIR] = (
        f"glm-harness: pytest chose its rootdir before it knew that {flag} takes a value, "
        f"and took {value} for a test path; write {flag}={value}"
    )


def missing_path(config: pytest.Config) -> str | None:
    """Under pytest-xdist the controller collects nothing, so a path given that does not
    exist went unsaid (the run exited 5 with no tests); say it as pytest does alone."""
    if getattr(config, "workerinput", None) is not None or not config.getoption(
        "numprocesses", None
    ):
        return None
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        return None
    here = config.invocation_params.dir
    for arg in config.args:
        if not (here / arg.split("::")[0]).exists():
            return f"file or directory not found: {arg}"
    return None


def option_value(config: pytest.Config, name: str) -> str:
    """An option's value, else its ini twin's."""
    value = config.getoption(name)
    return str(config.getini(name) if value is None else value).strip()


def canary_mode(config: pytest.Config) -> str:
    """--glm-canary (always), --glm-no-canary (never), else ini glm_canary (auto)."""
    from harness.errors import ConfigError

    mode = option_value(config, "glm_canary").lower() or "auto"
    if mode not in ("auto", "always", "never"):
        raise ConfigError(f"ini glm_canary: {mode!r} not allowed (allowed: auto, always, never)")
    return mode


def settings_of(config: pytest.Config) -> Settings:
    """The run's settings: each option, else its environment variable, else the ini."""
    from harness.engine.cache import MODES
    from harness.errors import ConfigError
    from harness.settings import values as s

    def number(name: str, kind: type[int] | type[float], minimum: float) -> Any:
        text = option_value(config, name)
        try:
            found = kind(text)
        except ValueError:
            raise ConfigError(
                f"--{name.replace('_', '-')}: expected a number, got {text!r}"
            ) from None
        if found < minimum:
            raise ConfigError(
                f"--{name.replace('_', '-')}: must be at least {minimum:g}, got {text}"
            )
        return found

    samples = config.getoption("glm_samples")
    if samples is not None and samples < 1:
        raise ConfigError(f"--glm-samples: must be at least 1, got {samples}")
    sample = config.getoption("glm_sample")
    if sample is not None and sample < 1:
        raise ConfigError(f"--glm-sample: must be at least 1, got {sample}")
    seed = config.getoption("glm_seed")
    cache = option_value(config, "glm_cache")
    if cache not in MODES:
        raise ConfigError(f"--glm-cache: {cache!r} not allowed (allowed: {', '.join(MODES)})")
    env = os.environ.get
    return s.Settings(
        base_url=s.first(config.getoption("glm_base_url"), env("GLM_BASE_URL"),
                         str(config.getini("glm_base_url"))),
        model=s.first(config.getoption("glm_model"), env("GLM_MODEL"),
                      str(config.getini("glm_model"))) or s.DEFAULT_MODEL,
        api_key=s.api_key_from_env(),
        headers=s.parse_headers(list(config.getini("glm_headers"))),
        timeout=number("glm_timeout", float, 0.001),
        max_reply_mb=number("glm_max_reply_mb", float, 0.001),
        concurrency=number("glm_concurrency", int, 1),
        retries=number("glm_retries", int, 0),
        cache_mode=cache,
        apis=s.parse_apis(option_value(config, "glm_api")),
        efforts=s.parse_efforts(option_value(config, "glm_effort")),
        budgets=s.parse_budgets(option_value(config, "glm_budget")),
        samples=samples,
        prompts=s.parse_prompts(option_value(config, "glm_prompt")),
        sample=sample,
        seed=0 if seed is None else seed,
        shard=s.parse_shard(config.getoption("glm_shard")),
        stream=bool(config.getoption("glm_stream")),
        judge=_judge_settings(config),
    )  # fmt: skip


def _judge_settings(config: pytest.Config) -> Any:
    from harness.errors import ConfigError
    from harness.models import APIS, EFFORTS
    from harness.settings import values as s

    def pick(name: str, variable: str) -> str | None:
        return s.first(config.getoption(name), os.environ.get(variable), str(config.getini(name)))

    def one(name: str, allowed: tuple[str, ...], default: str) -> str:
        option = f"--{name.replace('_', '-')}"
        found = s.parse_list(option_value(config, name), allowed, option) or (default,)
        if len(found) > 1:
            raise ConfigError(f"{option}: give one value, not {', '.join(found)}")
        return found[0]

    return s.JudgeSettings(
        base_url=pick("glm_judge_base_url", "GLM_JUDGE_BASE_URL"),
        model=pick("glm_judge_model", "GLM_JUDGE_MODEL"),
        api_key=s.api_key_from_env("GLM_JUDGE_API_KEY"),
        effort=one("glm_judge_effort", EFFORTS, "default"),
        api="responses" if one("glm_judge_api", APIS, "chat") == "responses" else "chat",
    )
