"""Run settings resolved from options, environment and ini. No pytest import here."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from harness.errors import ConfigError
from harness.models import APIS, EFFORTS, Api
from harness.secret import Secret

DEFAULT_MODEL = "zai-org/GLM-4.7-Flash"
DEFAULT_TIMEOUT = 180.0  # seconds: Azure ML's request_timeout_ms cap
DEFAULT_CONCURRENCY = 8
DEFAULT_RETRIES = 4  # retries of a request after its first attempt
DEFAULT_MAX_REPLY_MB = 16  # MiB a reply may take, on the wire and decompressed

NO_ENDPOINT = (
    "glm-harness: no model endpoint configured. Set GLM_BASE_URL (and GLM_API_KEY if the "
    "endpoint needs a token), or pass --glm-base-url URL, or set glm_base_url in the ini "
    "file; or run against a local model with --glm-local."
)


@dataclass(frozen=True, slots=True)
class JudgeSettings:
    """Where ``judge`` checks send their requests. ``base_url`` None: the run's endpoint
    (and its token); ``model`` None: the run's model. A judge at another URL gets only
    GLM_JUDGE_API_KEY: the run's token is never sent to another host."""

    base_url: str | None = None
    model: str | None = None
    api_key: Secret | None = field(default=None, repr=False)
    effort: str = "default"
    api: Api = "chat"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a run needs to reach the endpoint. The token is never shown by repr."""

    base_url: str | None
    model: str
    api_key: Secret | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = DEFAULT_TIMEOUT  # seconds: a deadline for each attempt, streams included
    max_reply_mb: float = DEFAULT_MAX_REPLY_MB
    concurrency: int = DEFAULT_CONCURRENCY
    apis: tuple[Api, ...] | None = None
    efforts: tuple[str, ...] | None = None
    budgets: tuple[int | None, ...] | None = None  # --glm-budget: thinking budgets (Chat)
    samples: int | None = None
    prompts: tuple[str, ...] | None = None  # --glm-prompt: the variants to run
    sample: int | None = None  # --glm-sample: cases per suite
    seed: int = 0  # --glm-seed: which cases --glm-sample chooses
    shard: tuple[int, int] | None = None  # --glm-shard K/N: this machine's share
    retries: int = DEFAULT_RETRIES
    stream: bool = False  # --glm-stream: stream every request
    cache_mode: str = "use"
    cache_id: str | None = None  # what identifies the endpoint in cache keys (default: base_url)
    judge: JudgeSettings = field(default_factory=JudgeSettings)

    @property
    def endpoint_id(self) -> str:
        return self.cache_id or self.base_url or ""

    @property
    def judge_apart(self) -> bool:
        """The judge has an endpoint of its own (another client, token and limit)."""
        return self.judge.base_url is not None and self.judge.base_url != self.base_url

    @property
    def judge_model(self) -> str:
        return self.judge.model or self.model


def first(*values: str | None) -> str | None:
    """The first value that is set and not blank."""
    for value in values:
        if value is not None and value.strip():
            return value.strip()
    return None


def parse_list(text: str | None, allowed: tuple[str, ...], option: str) -> tuple[str, ...] | None:
    """``"chat, responses"`` -> ``("chat", "responses")``, each checked against ``allowed``."""
    if text is None or not text.strip():
        return None
    items = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    bad = [item for item in items if item not in allowed]
    if bad or not items:
        raise ConfigError(
            f"{option}: {', '.join(bad) or repr(text)} not allowed (allowed: {', '.join(allowed)})"
        )
    return items


def parse_apis(text: str | None) -> tuple[Api, ...] | None:
    items = parse_list(text, APIS, "--glm-api")
    return None if items is None else tuple("chat" if i == "chat" else "responses" for i in items)


def parse_efforts(text: str | None) -> tuple[str, ...] | None:
    return parse_list(text, EFFORTS, "--glm-effort")


_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")  # a prompt variant's id, as in suites


def parse_prompts(text: str | None) -> tuple[str, ...] | None:
    """``--glm-prompt terse,careful``: variant ids (any a suite may have)."""
    if text is None or not text.strip():
        return None
    items = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    bad = [item for item in items if not _NAME.match(item)]
    if bad or not items:
        raise ConfigError(
            f"--glm-prompt: {', '.join(map(repr, bad)) or repr(text)} is not a prompt id "
            "(letters, digits, _ . -)"
        )
    return items


def parse_budgets(text: str | None) -> tuple[int | None, ...] | None:
    """``--glm-budget 256,1024,none``: thinking budgets in tokens; ``none`` is no budget."""
    if text is None or not text.strip():
        return None
    out: list[int | None] = []
    for part in (p.strip() for p in text.split(",")):
        if part.lower() == "none":
            out.append(None)
        elif part.isdigit() and 1 <= int(part) <= 1_000_000:
            out.append(int(part))
        else:
            raise ConfigError(
                f"--glm-budget: {part!r} is not a budget (a whole number of tokens from 1 to "
                "1000000, or none)"
            )
    return tuple(dict.fromkeys(out))


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``--glm-shard 2/4`` -> ``(2, 4)``: the second of four shares, 1 <= K <= N."""
    if text is None or not text.strip():
        return None
    k, sep, n = text.strip().partition("/")
    if not (sep and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n) <= 10_000):
        raise ConfigError(f"--glm-shard: {text!r} is not K/N (e.g. 2/4: the second of four)")
    return int(k), int(n)


def parse_headers(lines: list[str]) -> dict[str, str]:
    """ini ``glm_headers`` lines ``Name: value`` -> a mapping."""
    headers: dict[str, str] = {}
    for line in lines:
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ConfigError(f"glm_headers: {line.split(':')[0]!r}: expected 'Name: value'")
        if name.strip().lower() == "authorization":
            raise ConfigError("glm_headers: set the token with GLM_API_KEY, not in the ini file")
        headers[name.strip()] = value.strip()
    return headers


def api_key_from_env(name: str = "GLM_API_KEY") -> Secret | None:
    """GLM_API_KEY (or ``name``) as a :class:`Secret`, checked: a key that cannot go in an
    HTTP header is a usage error (the message never shows it, and no frame holds it)."""
    if not (os.environ.get(name) or "").strip():
        return None
    secret = Secret(os.environ[name].strip())
    if not secret.fits_header():
        raise ConfigError(
            f"{name} contains characters that cannot be sent in an HTTP header "
            "(a stray newline or non-ASCII character?)"
        )
    return secret
