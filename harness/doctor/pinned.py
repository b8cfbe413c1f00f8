"""The request fields of a server against those of vLLM 0.33.0, the release the harness is
checked against. Pure, but for reading the pinned copy.

:func:`reduce` keeps of an OpenAPI document what this needs: for ``POST
/v1/chat/completions`` and ``POST /v1/responses``, each request field's JSON types and
enum values (``const`` s count as enum values) and, for an object field, the same of its
own fields (one level of nesting; ``$ref`` s followed, ``anyOf`` / ``oneOf`` / ``allOf``
branches merged). ``vllm-0.33.0-requests.json`` beside this module is :func:`reduce` of
vLLM 0.33.0's document (``tests/fixtures/vllm-0.33.0-openapi.json``), written by
``scripts/pin-openapi``. :func:`differences` lists the fields a live document adds,
removes or changes against it.

A live document is hostile input: every walk is bounded (:data:`MAX_NODES` schema nodes,
``$ref`` chains and unions at most ``openapi``'s depth).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.doctor.openapi import properties_of, request_schema, resolve
from harness.engine.requests import PATHS
from harness.models import APIS, Api

PINNED = Path(__file__).with_name("vllm-0.33.0-requests.json")
PINNED_VERSION = "0.33.0"
MAX_NODES = 100_000  # schema nodes one reduce() visits, at most
_MAX_DEPTH = 24
_UNIONS = ("anyOf", "oneOf", "allOf")


class _Budget:
    def __init__(self) -> None:
        self.left = MAX_NODES

    def take(self) -> bool:
        self.left -= 1
        return self.left >= 0


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    """One API's request fields against the pinned ones: ``found`` is False when the live
    document has no request schema for the path."""

    api: Api
    path: str
    found: bool
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()  # "reasoning_effort (enum -max)"

    @property
    def same(self) -> bool:
        return self.found and not (self.added or self.removed or self.changed)


def load_pinned() -> dict[str, Any]:
    """The pinned copy: ``{"version", "source", "requests": {path: fields}}``."""
    data: dict[str, Any] = json.loads(PINNED.read_text(encoding="utf-8"))
    return data


def reduce(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per API path, each request field: ``{"type": [...], "enum": [...], "properties":
    {...}}`` (``enum`` and ``properties`` only when there are any); a path the document
    has no request schema for is left out."""
    budget = _Budget()
    out: dict[str, dict[str, Any]] = {}
    for api in APIS:
        schema = request_schema(document, PATHS[api])
        if schema is None:
            continue
        fields, _ = properties_of(document, schema, 0)
        out[PATHS[api]] = {
            str(name): _describe(document, node, budget, nested=True)
            for name, node in sorted(fields.items(), key=lambda kv: str(kv[0]))
        }
    return out


def differences(
    pinned: Mapping[str, Any], live: Mapping[str, Mapping[str, Any]]
) -> dict[Api, SchemaDiff]:
    """Each API's :class:`SchemaDiff` of the ``live`` reduced fields against ``pinned``'s."""
    out: dict[Api, SchemaDiff] = {}
    for api in APIS:
        path = PATHS[api]
        if path not in live:
            out[api] = SchemaDiff(api, path, found=False)
            continue
        added, removed, changed = _compare(pinned.get(path) or {}, live[path], "")
        out[api] = SchemaDiff(api, path, True, added, removed, changed)
    return out


def _compare(
    pinned: Mapping[str, Any], live: Mapping[str, Any], prefix: str
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    added = [f"{prefix}{k}" for k in live if k not in pinned]
    removed = [f"{prefix}{k}" for k in pinned if k not in live]
    changed: list[str] = []
    for name in (k for k in pinned if k in live):
        was, now = pinned[name], live[name]
        said = _changed(was, now)
        if said:
            changed.append(f"{prefix}{name} ({said})")
        if not prefix:  # one level of nesting
            more = _compare(was.get("properties") or {}, now.get("properties") or {}, f"{name}.")
            added += more[0]
            removed += more[1]
            changed += more[2]
    return tuple(added), tuple(removed), tuple(changed)


def _changed(was: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    parts = []
    if was.get("type") != now.get("type"):
        parts.append(f"type {_types(was)} -> {_types(now)}")
    old, new = was.get("enum") or [], now.get("enum") or []
    gone = [json.dumps(v) for v in old if v not in new]
    came = [json.dumps(v) for v in new if v not in old]
    if gone or came:
        parts.append("enum " + " ".join([*(f"-{v}" for v in gone), *(f"+{v}" for v in came)]))
    return "; ".join(parts)


def _types(field: Mapping[str, Any]) -> str:
    return "|".join(str(t) for t in field.get("type") or ()) or "any"


def _describe(
    document: Mapping[str, Any], node: Any, budget: _Budget, *, nested: bool
) -> dict[str, Any]:
    types: set[str] = set()
    enum: list[Any] = []
    fields: dict[str, Any] = {}
    for branch in _branches(document, node, budget, 0, set()):
        kind = branch.get("type")
        kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
        types.update(str(k) for k in kinds)
        listed = branch.get("enum")
        values: list[Any] = list(listed) if isinstance(listed, list) else []
        values += [branch["const"]] if "const" in branch else []
        enum += [v for v in values if _scalar(v) and v not in enum]
        if not kinds:
            types.update(_json_type(v) for v in values if _scalar(v))
        own = branch.get("properties")
        if isinstance(own, Mapping):
            types.add("object")
            if nested:
                for name, sub in own.items():
                    if budget.take():  # a field of several branches: its types merged
                        found = _describe(document, sub, budget, nested=False)
                        fields[str(name)] = _merge(fields.get(str(name)), found)
    out: dict[str, Any] = {"type": sorted(types)}
    if enum:
        out["enum"] = sorted(enum, key=json.dumps)
    if fields:
        out["properties"] = dict(sorted(fields.items()))
    return out


def _merge(was: dict[str, Any] | None, now: dict[str, Any]) -> dict[str, Any]:
    if was is None:
        return now
    enum = [*was.get("enum", []), *(v for v in now.get("enum", []) if v not in was.get("enum", []))]
    out: dict[str, Any] = {"type": sorted({*was["type"], *now["type"]})}
    return out | ({"enum": sorted(enum, key=json.dumps)} if enum else {})


def _branches(
    document: Mapping[str, Any], node: Any, budget: _Budget, depth: int, seen: set[int]
) -> list[Mapping[str, Any]]:
    """``node`` (``$ref`` followed) and its union branches, flattened, each schema once."""
    schema = resolve(document, node)
    if schema is None or depth > _MAX_DEPTH or id(schema) in seen or not budget.take():
        return []
    seen.add(id(schema))
    found = [schema] if any(k in schema for k in ("type", "enum", "const", "properties")) else []
    for keyword in _UNIONS:
        branches = schema.get(keyword)
        for branch in branches if isinstance(branches, list) else []:
            found += _branches(document, branch, budget, depth + 1, seen)
    return found


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "number" if isinstance(value, float) else "string"
