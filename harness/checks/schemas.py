"""JSON Schemas from suites, which arrive in pull requests: nothing leaves for the network.

- A ``$ref`` resolves only to a schema file under ``evals/`` (a path relative to the file
  that holds it; for an inline schema, to ``evals/``), by the same rules as templates
  (:func:`harness.suites.templates.resolve_under`). A URL (``http:``, ``https:``, ``file:``, any
  scheme) or an absolute path is refused; so is a ``$schema`` that names no dialect the
  validator knows (it is never fetched). Everything a schema reaches is resolved, loaded
  and checked while the suite is collected; grading then resolves nothing new.
- ``pattern`` and ``patternProperties`` (and ``additionalProperties`` beside them) run on
  the answer through :func:`harness.checks.regexes.compile_safe`, never through ``re`` directly;
  a pattern it refuses fails collection.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from jsonschema import validators
from jsonschema.exceptions import SchemaError, ValidationError
from jsonschema.protocols import Validator
from referencing import Registry, Resource, Specification
from referencing._core import Resolver
from referencing.exceptions import Unresolvable

from harness.checks.jsontext import pointer_of
from harness.checks.regexes import UnsafePattern, compile_safe, quoted
from harness.errors import TemplateError

Loader = Callable[[str], Mapping[str, Any]]
_REFS = ("$ref", "$dynamicRef", "$recursiveRef")
INLINE = "<inline>"


class SchemaRefused(Exception):
    """A schema cannot be used; the message says why (one line)."""


def compile_schema(schema: Mapping[str, Any], *, source: str, uri: str, load: Loader) -> Validator:
    """A validator for ``schema`` (named ``source`` in messages; ``uri`` is its path under
    evals/, ``""`` when inline) whose every ``$ref`` was resolved now through ``load``.
    Raises ``SchemaRefused``."""
    cls = _dialect(schema, source)
    spec = _specification(cls)
    # An inline schema's refs are relative to evals/ itself; "" is the validator's own
    # root (the one-line {"$ref": uri} below), so the inline schema gets a name no file has.
    uri = uri or INLINE
    documents: dict[str, Resource[Any]] = {uri: _document(schema, source, cls, spec)}

    def retrieve(target: str) -> Resource[Any]:
        if target not in documents:
            documents[target] = _document(_fetch(target, load), repr(target), cls, spec)
        return documents[target]

    crawler = _Crawler(Registry(retrieve=retrieve).resolver(), spec)  # type: ignore[call-arg]
    crawler.reach(uri, source)
    if crawler.unevaluated and crawler.patterned:
        raise SchemaRefused(
            f"{source}: unevaluatedProperties beside patternProperties is not supported "
            "(its regexes would run unguarded); use additionalProperties"
        )
    # Grading resolves only what was reached here: anything else is refused, not fetched.
    registry: Registry[Any] = Registry(retrieve=_refuse).with_resources(documents.items())  # type: ignore[call-arg]
    validator: Validator = _guarded(cls)({"$ref": uri}, registry=registry)
    return validator


def check_sent_schema(schema: Mapping[str, Any], source: str) -> None:
    """A ``structured_output`` schema (sent to the server whole, never resolved here):
    a known dialect, valid, and every ``$ref`` inside the file itself (``#/...``)."""
    cls = _dialect(schema, source)
    _check(cls, schema, source)
    for ref in _all_refs(schema):
        if not ref.startswith("#"):
            raise SchemaRefused(
                f"{source}: $ref {ref!r} refused: a structured output schema is sent whole, "
                "so a $ref must point inside it ('#/...')"
            )


def _dialect(schema: Mapping[str, Any], source: str) -> Any:
    named = schema.get("$schema")
    cls = validators.validator_for(schema, default=None)  # type: ignore[arg-type]
    if named is None:
        return validators.Draft202012Validator
    if cls is None:
        raise SchemaRefused(
            f"{source}: unknown $schema {named!r} (metaschemas are never fetched; use a "
            "draft-04, -06, -07, 2019-09 or 2020-12 URI, or leave $schema out)"
        )
    return cls


def _specification(cls: Any) -> Specification[Any]:
    from referencing.jsonschema import specification_with

    return specification_with(cls.META_SCHEMA.get("$schema", ""))


def _check(cls: Any, schema: Mapping[str, Any], source: str) -> None:
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = pointer_of(list(exc.absolute_path))
        raise SchemaRefused(f"invalid JSON Schema in {source} at {where}: {exc.message}") from None
    except RecursionError:
        raise SchemaRefused(f"{source}: nested too deeply") from None


def _document(data: Any, source: str, cls: Any, spec: Specification[Any]) -> Resource[Any]:
    """One schema document, checked; its ``$schema`` (same dialect as the root's) is
    dropped so that validation stays with the guarded validator class."""
    if not isinstance(data, Mapping):
        raise SchemaRefused(f"{source}: a JSON Schema must be a JSON object")
    if "$schema" in data and _dialect(data, source) is not cls:
        raise SchemaRefused(f"{source}: a different $schema than the schema that refers to it")
    _check(cls, data, source)
    contents = {k: v for k, v in data.items() if k != "$schema"}
    return spec.create_resource(contents)


def _fetch(target: str, load: Loader) -> Mapping[str, Any]:
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        raise SchemaRefused(
            f"$ref to {target!r} refused: schemas resolve only to files under evals/, "
            "never over the network"
        )
    path = unquote(parts.path)
    if path.startswith("/") or path.startswith("\\"):
        raise SchemaRefused(f"$ref to {target!r} refused: an absolute path; use one under evals/")
    try:
        return load(path)
    except TemplateError as exc:
        raise SchemaRefused(f"$ref to {target!r}: {exc.message}") from None


def _refuse(target: str) -> Resource[Any]:
    raise SchemaRefused(f"$ref to {target!r} was not resolved when the suite was collected")


class _Crawler:
    """Walks every subschema reachable from a root the way the validator will (same
    resolvers), resolving each ``$ref`` and checking each pattern now."""

    def __init__(self, resolver: Resolver[Any], spec: Specification[Any]) -> None:
        self.resolver = resolver
        self.spec = spec
        self.seen: set[tuple[int, str]] = set()
        self.unevaluated = False
        self.patterned = False

    def reach(self, ref: str, source: str) -> None:
        try:
            resolved = self.resolver.lookup(ref)
            self.walk(resolved.contents, resolved.resolver, source, ref)
        except Unresolvable as exc:
            raise SchemaRefused(_why(exc, source)) from None
        except RecursionError:
            raise SchemaRefused(f"{source}: nested too deeply") from None

    def walk(self, contents: Any, resolver: Resolver[Any], source: str, base: str) -> None:
        if not isinstance(contents, Mapping) or (id(contents), base) in self.seen:
            return
        self.seen.add((id(contents), base))
        self.patterns(contents, source)
        for keyword in _REFS:
            ref = contents.get(keyword)
            if isinstance(ref, str):
                _no_climb(ref, base, source)
                try:
                    resolved = resolver.lookup(ref)
                except Unresolvable as exc:
                    raise SchemaRefused(_why(exc, source)) from None
                target = ref if not ref.startswith("#") else base
                self.walk(resolved.contents, resolved.resolver, source, _join(base, target))
        for sub in self.spec.create_resource(contents).subresources():
            if isinstance(sub.contents, Mapping) and "$schema" in sub.contents:
                raise SchemaRefused(f"{source}: a $schema inside a schema is not supported")
            self.walk(sub.contents, resolver.in_subresource(sub), source, base)

    def patterns(self, contents: Mapping[str, Any], source: str) -> None:
        found = []
        if isinstance(contents.get("pattern"), str):
            found.append(contents["pattern"])
        if isinstance(contents.get("patternProperties"), Mapping):
            self.patterned = True
            found += [p for p in contents["patternProperties"] if isinstance(p, str)]
        if "unevaluatedProperties" in contents:
            self.unevaluated = True
        for pattern in found:
            try:
                compile_safe(pattern)
            except UnsafePattern as exc:
                raise SchemaRefused(f"{source}: pattern {quoted(pattern)}: {exc}") from None


def _join(base: str, ref: str) -> str:
    from urllib.parse import urldefrag, urljoin

    return urldefrag(urljoin(base, ref))[0]


def _no_climb(ref: str, base: str, source: str) -> None:
    path = urlsplit(ref).path
    if path and not urlsplit(ref).scheme:
        joined = posixpath.normpath(posixpath.join(posixpath.dirname(base), path))
        if joined == ".." or joined.startswith("../"):
            raise SchemaRefused(f"$ref to {ref!r} in {source} leaves evals/; refused")


def _why(exc: Unresolvable, source: str) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, SchemaRefused):
            return str(cause)
        cause = cause.__cause__
    return f"{source}: $ref {exc.ref!r} cannot be resolved"


def _all_refs(node: Any) -> Iterator[str]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, Mapping):
            ref = item.get("$ref")
            if isinstance(ref, str):
                yield ref
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _guarded(cls: Any) -> Any:
    """``cls`` with ``pattern``, ``patternProperties`` and ``additionalProperties`` running
    their regexes through ``compile_safe`` (jsonschema's own use ``re.search``)."""
    keywords = {"pattern": _pattern, "patternProperties": _pattern_properties}
    keywords["additionalProperties"] = _additional_properties
    known = {k: v for k, v in keywords.items() if k in cls.VALIDATORS}
    return validators.extend(cls, known)  # type: ignore[no-untyped-call]


def _search(pattern: str, text: str) -> bool:
    return compile_safe(pattern).search(text) is not None


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {quoted(pattern)}")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        key
        for key in instance
        if key not in properties and not any(_search(p, key) for p in patterns)
    ]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        if patterns:
            verb = "does" if len(extras) == 1 else "do"
            joined = ", ".join(repr(each) for each in sorted(extras))
            listed = ", ".join(repr(each) for each in sorted(patterns))
            yield ValidationError(f"{joined} {verb} not match any of the regexes: {listed}")
        else:
            shown = sorted(extras, key=str)
            verb = "was" if len(shown) == 1 else "were"
            names = ", ".join(repr(extra) for extra in shown)
            message = f"Additional properties are not allowed ({names} {verb} unexpected)"
            yield ValidationError(message)
