"""Which request fields the harness sends does a server's ``/openapi.json`` declare? Pure.

vLLM accepts unknown request fields and ignores them (``extra="allow"``, a log line on
the server only), so a field the endpoint's version does not know is silently dropped.
FastAPI's schema says which fields it knows: ``paths["/v1/chat/completions"].post
.requestBody.content["application/json"].schema`` (usually a ``$ref`` into
``components/schemas``).

The fields are those :func:`harness.engine.requests.build_request` puts in a body, over every
effort, streamed or not, with every suite parameter and a structured output set: the
top-level keys, and ``parent.key`` for keys of an object value (``reasoning.effort``,
``stream_options.include_usage``). A field counts as declared when its name is among the
schema's ``properties`` (following ``$ref``, and any branch of ``anyOf`` / ``oneOf`` /
``allOf``); a key under an object declared as free-form (``dict[str, Any]``, e.g.
``chat_template_kwargs``) counts as declared. ``additionalProperties: true`` on the body
itself does not: that is exactly the "accepted and ignored" case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.engine.requests import PARAM_NAMES, PATHS, build_request
from harness.models import APIS, EFFORTS, Api, Message, StructuredOutput

_MAX_DEPTH = 24  # $ref chains and nested unions deeper than this are not followed
_SAMPLE_PARAMS: dict[str, Any] = dict.fromkeys(PARAM_NAMES["chat"], 1) | {"stop": ["\n"]}
_SAMPLE_MESSAGES = (Message("system", "s"), Message("user", "u"))
_SAMPLE_OUTPUT = StructuredOutput("answer", {"type": "object"})


@dataclass(frozen=True, slots=True)
class FieldReport:
    """One API's fields against the schema. ``found`` is False when the document has no
    request body schema for the API's path; ``open_body`` when that schema lists no
    properties at all (nothing can be told)."""

    api: Api
    path: str
    found: bool
    declared: tuple[str, ...] = ()
    undeclared: tuple[str, ...] = ()
    open_body: bool = False


def sent_fields(api: Api) -> tuple[str, ...]:
    """Every field ``build_request`` may put in a body of ``api``, in order of appearance."""
    fields: dict[str, None] = {}
    # effort "none" and streaming first: that body holds every key, in body order
    for effort in sorted(EFFORTS, key=lambda effort: effort != "none"):
        for stream in (True, False):
            body = build_request(
                api,
                messages=_SAMPLE_MESSAGES,
                effort=effort,
                params=_SAMPLE_PARAMS,
                model="m",
                structured_output=_SAMPLE_OUTPUT,
                stream=stream,
                budget=1 if api == "chat" else None,
            ).body
            for key, value in body.items():
                fields[key] = None
                if isinstance(value, Mapping):
                    fields.update(dict.fromkeys(f"{key}.{sub}" for sub in value))
    return tuple(fields)


def check_fields(document: Mapping[str, Any]) -> dict[Api, FieldReport]:
    """Each API's :class:`FieldReport` against an OpenAPI ``document``."""
    return {api: _check(document, api) for api in APIS}


def _check(document: Mapping[str, Any], api: Api) -> FieldReport:
    path = PATHS[api]
    schema = request_schema(document, path)
    if schema is None:
        return FieldReport(api, path, found=False)
    properties, _ = properties_of(document, schema, 0)
    if not properties:
        return FieldReport(api, path, found=True, open_body=True)
    declared: list[str] = []
    undeclared: list[str] = []
    for name in sent_fields(api):
        parent, _, child = name.partition(".")
        if child and parent not in properties:
            continue  # the parent is reported; its keys would only repeat it
        if not child:
            known = parent in properties
        else:
            inner, free_form = properties_of(document, properties[parent], 0)
            known = free_form or child in inner
        (declared if known else undeclared).append(name)
    return FieldReport(api, path, True, tuple(declared), tuple(undeclared))


def request_schema(document: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The JSON request body schema of ``POST path``, or None when the document has none.

    A document whose paths leave out the ``/v1`` prefix (OpenAI's own spec puts it in
    ``servers``) is matched on the path's end.
    """
    paths = document.get("paths")
    if not isinstance(paths, Mapping):
        return None
    item = paths.get(path)
    if item is None:
        tail = path.removeprefix("/v1")
        item = next((v for k, v in paths.items() if str(k).endswith(tail)), None)
    operation = resolve(document, item.get("post")) if isinstance(item, Mapping) else None
    if operation is None:
        return None
    body = resolve(document, operation.get("requestBody"))
    content = body.get("content") if body is not None else None
    if not isinstance(content, Mapping):
        return None
    kinds = sorted(content, key=lambda kind: kind != "application/json")
    for kind in kinds:
        media = content[kind]
        if "json" in str(kind) and isinstance(media, Mapping):
            return resolve(document, media.get("schema"))
    return None


def resolve(document: Mapping[str, Any], node: Any, depth: int = 0) -> Mapping[str, Any] | None:
    """``node``, with a local ``$ref`` (``#/components/schemas/Name``) followed."""
    while isinstance(node, Mapping) and isinstance(node.get("$ref"), str):
        if depth > _MAX_DEPTH:
            return None
        node = _pointer(document, node["$ref"])
        depth += 1
    return node if isinstance(node, Mapping) else None


def _pointer(document: Mapping[str, Any], ref: str) -> Any:
    if not ref.startswith("#/"):
        return None  # external references are not fetched
    node: Any = document
    for part in ref[2:].split("/"):
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def properties_of(
    document: Mapping[str, Any], node: Any, depth: int = 0, seen: set[int] | None = None
) -> tuple[dict[str, Any], bool]:
    """The properties ``node`` declares (merged over union branches), and whether it is
    a free-form object (declares no properties but takes any key). Each schema is read
    once (``seen``): a hostile document's unions of the same ``$ref`` s, nested, would
    otherwise take time exponential in their depth."""
    schema = resolve(document, node)
    seen = set() if seen is None else seen
    if schema is None or depth > _MAX_DEPTH or id(schema) in seen:
        return {}, False
    seen.add(id(schema))
    found: dict[str, Any] = {}
    own = schema.get("properties")
    if isinstance(own, Mapping):
        found.update(own)
    free_form = not found and _takes_any_key(schema)
    for keyword in ("anyOf", "oneOf", "allOf"):
        branches = schema.get(keyword)
        for branch in branches if isinstance(branches, list) else []:
            inner, open_branch = properties_of(document, branch, depth + 1, seen)
            found.update(inner)
            free_form = free_form or open_branch
    return found, free_form and not found


def _takes_any_key(schema: Mapping[str, Any]) -> bool:
    """``{"type": "object"}`` or ``{"type": "object", "additionalProperties": ...}`` (a
    dict), or ``{}`` (Any); not a union, not a scalar, not ``null``."""
    if any(k in schema for k in ("anyOf", "oneOf", "allOf", "enum", "const")):
        return False
    kind = schema.get("type")
    if kind is None:
        return not schema.get("properties")
    return kind == "object" and schema.get("additionalProperties", True) is not False
