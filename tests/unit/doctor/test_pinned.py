"""harness.doctor.pinned: vLLM 0.33.0's request fields, and a live document against them."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.doctor.openapi import check_fields
from harness.doctor.pinned import PINNED, differences, load_pinned, reduce
from tests.server.app import vllm_openapi

ROOT = Path(__file__).resolve().parents[3]
FIXTURE = ROOT / "tests" / "fixtures" / "vllm-0.33.0-openapi.json"


def test_the_pinned_copy_is_what_vllm_0_33_0s_document_gives() -> None:
    raw = FIXTURE.read_bytes()
    pinned = load_pinned()
    assert pinned["version"] == "0.33.0"
    assert pinned["sha256"] == hashlib.sha256(raw).hexdigest()
    assert pinned["requests"] == reduce(json.loads(raw))
    # and scripts/pin-openapi agrees (it is how the copy is refreshed)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "pin-openapi"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert PINNED.stat().st_size < 40_000  # the fields doctor needs, not the 477 KB document


def test_what_the_copy_keeps() -> None:
    chat = load_pinned()["requests"]["/v1/chat/completions"]
    responses = load_pinned()["requests"]["/v1/responses"]
    assert len(chat) == 69
    assert len(responses) == 57
    assert chat["reasoning_effort"] == {
        "type": ["null", "string"],
        "enum": ["high", "low", "max", "medium", "minimal", "none", "xhigh"],
    }
    assert chat["thinking_token_budget"] == {"type": ["integer", "null"]}
    assert chat["chat_template_kwargs"] == {"type": ["null", "object"]}  # free-form
    assert chat["stream_options"]["properties"]["include_usage"] == {"type": ["boolean", "null"]}
    # fields of several branches merged: ResponseFormat and the structural tag formats
    assert chat["response_format"]["properties"]["type"]["enum"] == [
        "json_object", "json_schema", "structural_tag", "text",
    ]  # fmt: skip
    assert "effort" in responses["reasoning"]["properties"]
    assert "thinking_token_budget" not in responses


def test_the_scripted_servers_document_has_the_pinned_fields() -> None:
    assert reduce(vllm_openapi()) == load_pinned()["requests"]
    for report in check_fields(vllm_openapi()).values():
        assert report.undeclared == ()


def test_fields_added_removed_and_changed_are_listed() -> None:
    doc = vllm_openapi(
        drop_chat=("thinking_token_budget", "stream_options.include_usage"),
        add_chat={"reasoning_budget": {"type": "integer"}},
        drop_responses=("reasoning",),
    )
    props = doc["components"]["schemas"]["ChatCompletionRequest"]["properties"]
    props["reasoning_effort"] = {"anyOf": [{"type": "string", "enum": ["low", "high", "ultra"]}]}
    props["seed"] = {"type": "string"}
    found = differences(load_pinned()["requests"], reduce(doc))
    chat, responses = found["chat"], found["responses"]
    assert chat.added == ("reasoning_budget",)
    assert chat.removed == ("thinking_token_budget", "stream_options.include_usage")
    assert chat.changed == (
        'reasoning_effort (type null|string -> string; enum -"max" -"medium" -"minimal" '
        '-"none" -"xhigh" +"ultra")',
        "seed (type integer|null -> string)",
    )
    assert responses.removed == ("reasoning",)  # its fields are not listed again
    assert (responses.added, responses.changed) == ((), ())
    assert not chat.same
    assert not responses.same


def test_a_document_without_a_request_schema_says_so() -> None:
    doc = vllm_openapi()
    del doc["paths"]["/v1/responses"]
    found = differences(load_pinned()["requests"], reduce(doc))
    assert found["chat"].same
    assert not found["responses"].found


def test_hostile_documents_are_read_in_bounded_time() -> None:
    # unions of the same refs, nested 20 deep: 2**20 branches if each were walked
    schemas: dict[str, Any] = {f"S{i}": {"anyOf": [{"$ref": f"#/components/schemas/S{i + 1}"}] * 2}
                               for i in range(20)}  # fmt: skip
    schemas["S20"] = {"type": "object", "properties": {"x": {"type": "string"}}}
    doc = copy.deepcopy(vllm_openapi())
    doc["components"]["schemas"].update(schemas)
    body = doc["components"]["schemas"]["ChatCompletionRequest"]
    body["properties"]["deep"] = {"$ref": "#/components/schemas/S0"}
    body["anyOf"] = [{"$ref": "#/components/schemas/S0"}] * 2
    # a cycle, and a ref out of the document
    schemas_now = doc["components"]["schemas"]
    schemas_now["Loop"] = {"$ref": "#/components/schemas/Loop2"}
    schemas_now["Loop2"] = {"anyOf": [{"$ref": "#/components/schemas/Loop"}]}
    body["properties"]["loop"] = {"$ref": "#/components/schemas/Loop"}
    body["properties"]["away"] = {"$ref": "https://example.com/x.json#/A"}
    start = time.perf_counter()
    fields = reduce(doc)["/v1/chat/completions"]
    check_fields(doc)
    assert time.perf_counter() - start < 2.0
    assert fields["deep"] == {"type": ["object"], "properties": {"x": {"type": ["string"]}}}
    assert fields["loop"] == {"type": []}
    assert fields["away"] == {"type": []}
    assert "x" in fields  # the body's own union branches are merged
