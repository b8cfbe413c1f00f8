"""Attacks on ``json_schema`` checks: a schema from a pull request reaches no network and no
file outside evals/, and its regexes run only through the guarded engine."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from harness.checks import schemas
from harness.checks.registry import CheckContext, build_check
from harness.errors import CheckSpecError
from harness.models import Check, Completion, Subject, Usage
from harness.suites.templates import Templates


class Trap:
    """A real HTTP server on 127.0.0.1 that serves a schema accepting anything and counts
    every request that reaches it: no test may ever see one."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/schema+json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    server = Trap()
    yield server
    server.close()
    assert server.hits == [], f"the harness sent requests: {server.hits}"


@pytest.fixture
def evals(tmp_path: Path) -> Path:
    folder = tmp_path / "evals"
    (folder / "schemas").mkdir(parents=True)
    return folder


def write(evals: Path, name: str, schema: Mapping[str, Any]) -> None:
    path = evals / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema))


def build(evals: Path, spec: Mapping[str, Any], loaded: set[str] | None = None) -> Check:
    templates = Templates(evals)

    def load(name: str) -> Mapping[str, Any]:
        if loaded is not None:
            loaded.add(name)
        return templates.load_json(name)

    return build_check(spec, CheckContext(load_schema=load))[1]


def refused(evals: Path, spec: Mapping[str, Any]) -> str:
    with pytest.raises(CheckSpecError) as info:
        build(evals, spec)
    assert "\n" not in info.value.message
    return str(info.value)


def answer(text: str) -> Subject:
    completion = Completion(
        answer=text, reasoning="", usage=Usage(1, 1, 0), finish="stop", truncated=False,
        latency_ms=1.0, status=200,
    )  # fmt: skip
    return Subject(text=text, value=text, completion=completion)


def test_a_remote_ref_is_refused_at_build_and_never_fetched(evals: Path, trap: Trap) -> None:
    message = refused(evals, {"json_schema": {"schema": {"$ref": f"{trap.url}/s.json"}}})
    assert message == (
        f"json_schema.schema: $ref to '{trap.url}/s.json' refused: schemas resolve only to "
        "files under evals/, never over the network"
    )


def test_a_remote_ref_deep_in_a_file_schema_is_refused(evals: Path, trap: Trap) -> None:
    write(evals, "schemas/a.json", {"properties": {"x": {"$ref": "b.json"}}})
    write(evals, "schemas/b.json", {"items": {"allOf": [{"$ref": f"{trap.url}/c.json#/x"}]}})
    assert f"$ref to '{trap.url}/c.json' refused" in refused(
        evals, {"json_schema": "schemas/a.json"}
    )


@pytest.mark.parametrize(
    "schema",
    [
        pytest.param({"$ref": "//127.0.0.1:{port}/b.json"}, id="scheme-relative"),
        pytest.param({"$defs": {"x": {"$id": "{url}/x/", "$ref": "y.json"}}, "$ref": "#/$defs/x"},
                     id="nested-id"),
        pytest.param({"$dynamicRef": "{url}/d.json"}, id="dynamic-ref"),
    ],
)  # fmt: skip
def test_every_route_to_the_network_is_refused(
    evals: Path, trap: Trap, schema: dict[str, Any]
) -> None:
    port = trap.url.rsplit(":", 1)[1]
    text = json.dumps(schema).replace("{url}", trap.url).replace("{port}", port)
    message = refused(evals, {"json_schema": {"schema": json.loads(text)}})
    assert "never over the network" in message


def test_the_root_id_does_not_send_relative_refs_to_the_network(evals: Path, trap: Trap) -> None:
    # the schema's own $id would make "b.json" a URL on the trap; it stays a file of evals/
    schema = {"$id": f"{trap.url}/base/", "$ref": "b.json"}
    message = refused(evals, {"json_schema": {"schema": schema}})
    assert message.endswith("$ref to 'b.json': schema 'b.json' not found under evals/")
    write(evals, "b.json", {"type": "integer"})
    check = build(evals, {"json_schema": {"schema": schema}})
    assert check(answer("3")).passed
    assert not check(answer('"x"')).passed


def test_an_unknown_metaschema_is_refused_not_fetched(evals: Path, trap: Trap) -> None:
    message = refused(evals, {"json_schema": {"schema": {"$schema": f"{trap.url}/meta"}}})
    assert f"unknown $schema '{trap.url}/meta' (metaschemas are never fetched" in message


def test_a_file_uri_is_refused(evals: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"type": "string"}')
    message = refused(evals, {"json_schema": {"schema": {"$ref": outside.as_uri()}}})
    assert f"$ref to '{outside.as_uri()}' refused" in message


@pytest.mark.parametrize(
    ("ref", "why"),
    [
        ("../../outside.json", "leaves evals/; refused"),
        ("/etc/hostname", "an absolute path"),
        ("link.json", "leaves evals/; refused"),  # a symlink out of evals/
        ("missing.json", "not found under evals/"),
        ("b.json#/nowhere", "cannot be resolved"),
    ],
)
def test_refs_stay_under_evals(evals: Path, tmp_path: Path, ref: str, why: str) -> None:
    (tmp_path / "outside.json").write_text('{"type": "string"}')
    (evals / "schemas" / "link.json").symlink_to(tmp_path / "outside.json")
    write(evals, "schemas/b.json", {"type": "object"})
    write(evals, "schemas/a.json", {"$ref": ref})
    assert why in refused(evals, {"json_schema": "schemas/a.json"})


def test_relative_refs_resolve_beside_the_file_and_are_files_of_the_case(evals: Path) -> None:
    write(evals, "schemas/person.json", {
        "type": "object", "required": ["age"], "properties": {"age": {"$ref": "common/age.json"}},
    })  # fmt: skip
    write(evals, "schemas/common/age.json", {"$ref": "#/$defs/n", "$defs": {"n": {"minimum": 0}}})
    loaded: set[str] = set()
    check = build(evals, {"json_schema": "schemas/person.json"}, loaded)
    assert check(answer('{"age": 3}')).passed
    result = check(answer('{"age": -1}'))
    assert result.observed == ["/age: -1 is less than the minimum of 0"]
    assert loaded == {"schemas/person.json", "schemas/common/age.json"}


def test_grading_resolves_nothing_new(evals: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(evals, "schemas/a.json", {"$ref": "b.json"})
    write(evals, "schemas/b.json", {"type": "integer"})
    check = build(evals, {"json_schema": "schemas/a.json"})
    (evals / "schemas" / "b.json").write_text('{"type": "string"}')  # changed after collection
    assert check(answer("5")).passed


@pytest.mark.parametrize(
    ("schema", "shown"),
    [
        ({"patternProperties": {"x" * 3000: {}}}, "pattern 'xxxx"),
        ({"properties": {"a": {"items": {"pattern": "(a+)\\1"}}}}, "pattern '(a+)\\1'"),
    ],
)
def test_schema_patterns_compile_safe_refuses_fail_collection(
    evals: Path, schema: dict[str, Any], shown: str
) -> None:
    message = refused(evals, {"json_schema": {"schema": schema}})
    assert message.startswith(f"json_schema.schema: inline schema: {shown}")


def test_a_refused_pattern_in_a_referenced_file(evals: Path) -> None:
    write(evals, "schemas/a.json", {"$ref": "b.json"})
    write(evals, "schemas/b.json", {"pattern": "x" * 3000})
    message = refused(evals, {"json_schema": "schemas/a.json"})
    assert message.startswith("json_schema: schemas/a.json: pattern 'xxx")
    assert message.endswith("is longer than 2000 characters")


def test_an_invalid_pattern_is_an_invalid_schema(evals: Path) -> None:
    assert "at /pattern: '((' is not a 'regex'" in refused(
        evals, {"json_schema": {"schema": {"pattern": "(("}}}
    )


@pytest.mark.parametrize("pattern", ["(a+)+$", "^(a|aa)+$", "(.*,)*X"])
def test_a_backtracking_pattern_never_hangs_grading(evals: Path, pattern: str) -> None:
    # Refused at collection, or (with a linear-time engine) graded at once: never minutes.
    schema = {"properties": {"k": {"pattern": pattern}}, "patternProperties": {pattern: {}}}
    try:
        check = build(evals, {"json_schema": {"schema": schema}})
    except CheckSpecError as exc:  # the guard of the backtracking engine refused it
        message = exc.message
        assert "backtracking" in message
        return
    hostile = json.dumps({"k": "a" * 40 + "!", "a" * 40 + "!": 1, ",,,,,,,,,,,,,,,,,,,,,,,,,,,": 2})
    started = time.monotonic()
    check(answer(hostile))
    assert time.monotonic() - started < 1.0


def test_unevaluated_properties_beside_pattern_properties_is_refused(evals: Path) -> None:
    schema = {"patternProperties": {"^x": {}}, "unevaluatedProperties": False}
    assert "unevaluatedProperties beside patternProperties" in refused(
        evals, {"json_schema": {"schema": schema}}
    )


def test_schema_regexes_run_through_compile_safe(
    evals: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = {
        "properties": {"name": {"pattern": "^[A-Z]"}},
        "patternProperties": {"^n_": {"type": "integer"}},
        "additionalProperties": False,
    }
    check = build(evals, {"json_schema": {"schema": schema}})
    searched: list[str] = []
    real = schemas.compile_safe

    def spy(pattern: str) -> Any:
        searched.append(pattern)
        return real(pattern)

    monkeypatch.setattr(schemas, "compile_safe", spy)
    result = check(answer('{"name": "ada", "n_1": "x", "other": 1}'))
    assert not result.passed
    assert sorted(result.observed) == [
        "/: 'other' does not match any of the regexes: '^n_'",
        "/n_1: 'x' is not of type 'integer'",
        "/name: 'ada' does not match '^[A-Z]'",
    ]
    assert set(searched) == {"^[A-Z]", "^n_"}


def test_valid_schemas_still_grade(evals: Path) -> None:
    check = build(evals, {"json_schema": {"schema": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object", "properties": {"id": {"pattern": "^[0-9]+$"}},
        "definitions": {"d": {"type": "string"}}, "required": ["id"],
    }}})  # fmt: skip
    assert check(answer('{"id": "12"}')).passed
    assert check(answer('{"id": "x"}')).observed == ["/id: 'x' does not match '^[0-9]+$'"]
