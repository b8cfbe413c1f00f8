"""The request contract: every body the harness can send, checked against vLLM 0.33.0's
OpenAPI document (tests/fixtures/vllm-0.33.0-openapi.json, see tests/fixtures/README.md).

Each body must validate against the request schema of its path (types and enums, JSON
Schema 2020-12), and every field in it must be declared there: vLLM accepts an unknown
field and drops it without a word (``extra="allow"``), so an undeclared field is a silent
no-op. The declared check is the doctor's own (:func:`harness.doctor.openapi.check_fields`).
Cross-field rules (``stream_options`` needs ``stream``) are not in the document.

The objects inside lists (messages, input items, tools) and a named ``tool_choice`` are
checked one by one too: each against the schema of the kind it is meant to be (a ``tool``
message against ``ChatCompletionToolMessageParam``, not the union, which a catch-all
branch would let anything through), with only the fields that schema declares.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from harness.checks.judge import JudgeCheck
from harness.checks.registry import CheckContext, build_check
from harness.doctor import openapi
from harness.engine.requests import BUDGET_CHAT_ONLY, PATHS, SUITE_PARAMS, build_request
from harness.models import APIS, EFFORTS, Api, Message, Request, StructuredOutput, Tool, ToolCall
from harness.plugin.judging import judge_request, question_of
from harness.settings.values import JudgeSettings, Settings

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "vllm-0.33.0-openapi.json"
DOC: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
DOC_URI = "urn:vllm-0.33.0-openapi"  # the document's refs (#/components/...) resolve in it
REGISTRY: Registry[Any] = Registry().with_resource(DOC_URI, DRAFT202012.create_resource(DOC))
MODEL = "zai-org/GLM-4.7-Flash"


def body_schema(api: Api) -> Mapping[str, Any]:
    """``paths[path].post.requestBody.content["application/json"].schema``, as written."""
    post = DOC["paths"][PATHS[api]]["post"]
    schema: Mapping[str, Any] = post["requestBody"]["content"]["application/json"]["schema"]
    return schema


def validator(api: Api) -> Draft202012Validator:
    ref = body_schema(api)["$ref"]
    assert ref.startswith("#/components/schemas/"), ref
    return Draft202012Validator({"$ref": DOC_URI + ref}, registry=REGISTRY)


VALIDATORS: dict[Api, Draft202012Validator] = {api: validator(api) for api in APIS}


# --- what the schema says about a body ---------------------------------------------------


REASONS = 8  # of a union's, shown


def leaves(error: ValidationError) -> Iterator[ValidationError]:
    """The innermost errors under ``error`` (an ``anyOf`` keeps its branches' errors)."""
    if not error.context:
        yield error
    for sub in error.context:
        yield from leaves(sub)


def explain(error: ValidationError) -> str:
    """``$.path: message``, and for a union its branches' reasons (but "is not null"),
    e.g. ``$.reasoning: ... is not valid under any of the given schemas
    ($.reasoning.effort: 'maximum' is not one of [...])``."""
    said = f"{error.json_path}: {error.message}"
    found = list(leaves(error)) if error.context else []
    not_null = [e for e in found if not (e.validator == "type" and e.validator_value == "null")]
    why = list(dict.fromkeys(f"{e.json_path}: {e.message}" for e in not_null or found))
    if why:
        more = f"; and {len(why) - REASONS} more" if len(why) > REASONS else ""
        said += f" ({'; '.join(why[:REASONS])}{more})"
    return said


def schema_errors(api: Api, body: Mapping[str, Any]) -> list[str]:
    """Every way ``body`` breaks the request schema of ``api``'s path."""
    return sorted(explain(e) for e in VALIDATORS[api].iter_errors(body))


def fields_of(body: Mapping[str, Any]) -> tuple[str, ...]:
    """Top-level keys, and ``parent.key`` for the keys of an object value (as the doctor's
    ``sent_fields`` lists them)."""
    fields: dict[str, None] = {}
    for key, value in body.items():
        fields[key] = None
        if isinstance(value, Mapping):
            fields.update(dict.fromkeys(f"{key}.{sub}" for sub in value))
    return tuple(fields)


def undeclared(api: Api, body: Mapping[str, Any], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The fields of ``body`` that the document does not declare, decided by the doctor's
    ``check_fields``, which judges the fields ``sent_fields`` lists: pointed at this body's."""
    fields = fields_of(body)
    monkeypatch.setattr(openapi, "sent_fields", lambda _api: fields)
    report = openapi.check_fields(DOC)[api]
    assert report.found, report
    assert not report.open_body, report
    # check_fields judged exactly these fields (a key under an undeclared parent is left out)
    judged = {*report.declared, *report.undeclared}
    assert judged <= set(fields), (judged, fields)
    assert all(f.partition(".")[0] in report.undeclared for f in set(fields) - judged)
    return list(report.undeclared)


SCHEMAS: dict[str, Any] = DOC["components"]["schemas"]
CHAT_ROLES = {
    "system": "ChatCompletionSystemMessageParam",
    "developer": "ChatCompletionDeveloperMessageParam",
    "user": "ChatCompletionUserMessageParam",
    "assistant": "ChatCompletionAssistantMessageParam",
    "tool": "ChatCompletionToolMessageParam",
}
INPUT_ITEMS = {"function_call": "ResponseFunctionToolCallParam", "function_call_output": "FunctionCallOutput"}  # fmt: skip
FUNCTION_DEFINITION = "vllm__entrypoints__generate__base__protocol__FunctionDefinition"


def parts(api: Api, body: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    """``(where, schema name, value)`` for each object inside the body's lists, and a
    named ``tool_choice``: what kind of vLLM param each is meant to be."""
    if api == "chat":
        for n, message in enumerate(body.get("messages", [])):
            yield f"$.messages[{n}]", CHAT_ROLES[message["role"]], message
            for k, call in enumerate(message.get("tool_calls", [])):
                yield f"$.messages[{n}].tool_calls[{k}]", "ChatCompletionMessageFunctionToolCallParam", call  # fmt: skip
                yield f"$.messages[{n}].tool_calls[{k}].function", "Function", call["function"]
        for n, tool in enumerate(body.get("tools", [])):
            yield f"$.tools[{n}]", "ChatCompletionToolsParam", tool
            yield f"$.tools[{n}].function", FUNCTION_DEFINITION, tool["function"]
        if isinstance(body.get("tool_choice"), Mapping):
            choice = body["tool_choice"]
            yield "$.tool_choice", "ChatCompletionNamedToolChoiceParam", choice
            yield "$.tool_choice.function", "ChatCompletionNamedFunction", choice["function"]
        return
    if isinstance(body.get("input"), list):
        for n, item in enumerate(body["input"]):
            yield f"$.input[{n}]", INPUT_ITEMS.get(item.get("type"), "EasyInputMessageParam"), item
    for n, tool in enumerate(body.get("tools", [])):
        yield f"$.tools[{n}]", "FunctionTool", tool
    if isinstance(body.get("tool_choice"), Mapping):
        yield "$.tool_choice", "ToolChoiceFunction", body["tool_choice"]


def part_problems(api: Api, body: Mapping[str, Any]) -> list[str]:
    """Each inner object that its own schema refuses, or that holds a field the schema does
    not declare (vLLM keeps extra fields there too, and nothing reads them)."""
    problems = []
    for where, name, value in parts(api, body):
        check = Draft202012Validator({"$ref": f"{DOC_URI}#/components/schemas/{name}"}, registry=REGISTRY)  # fmt: skip
        problems += [f"{where} ({name}): {explain(e)}" for e in check.iter_errors(value)]
        declared = set(SCHEMAS[name]["properties"])
        problems += [f"{where}.{key}: not declared by {name}" for key in value if key not in declared]  # fmt: skip
    return problems


def assert_contract(request: Request, monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.loads(json.dumps(request.body))  # what goes on the wire
    assert request.path == PATHS[request.api]
    errors = schema_errors(request.api, body)
    assert not errors, f"{request.path} refuses the body:\n" + "\n".join(errors)
    dropped = undeclared(request.api, body, monkeypatch)
    assert not dropped, f"{request.path} does not declare (vLLM would drop): {dropped}"
    inner = part_problems(request.api, body)
    assert not inner, f"{request.path}, inside the body:\n" + "\n".join(inner)


# --- the bodies --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Call:
    """One ``build_request`` call."""

    api: Api
    messages: tuple[Message, ...]
    effort: str = "default"
    params: Mapping[str, Any] = field(default_factory=dict)
    structured_output: StructuredOutput | None = None
    stream: bool = False
    budget: int | None = None
    model: str = MODEL
    tools: tuple[Tool, ...] = ()
    tool_choice: str | Mapping[str, str] | None = None

    def request(self) -> Request:
        return build_request(
            self.api,
            messages=self.messages,
            effort=self.effort,
            params=self.params,
            model=self.model,
            structured_output=self.structured_output,
            stream=self.stream,
            budget=self.budget,
            tools=self.tools,
            tool_choice=self.tool_choice,
        )


SYSTEM_USER = (Message("system", "Answer with a number."), Message("user", "What is 2 + 3?"))
SHAPES: dict[str, tuple[Message, ...]] = {
    "user": (Message("user", "What is 2 + 3?"),),  # Responses: input is a string
    "system-user": SYSTEM_USER,  # Responses: instructions
    "systems": (
        Message("system", "Answer with a number."),
        Message("system", "No words."),
        Message("user", "What is 2 + 3?"),
    ),
    "few-shot": (
        Message("system", "Answer with a number."),
        Message("user", "1 + 1?"),
        Message("assistant", "2"),
        Message("user", "2 + 2?"),
        Message("assistant", "4"),
        Message("user", "2 + 3?"),
    ),
    "developer": (Message("developer", "Answer with a number."), Message("user", "2 + 3?")),
    "named": (  # name is sent on Chat only
        Message("system", "Answer with a number.", name="rules"),
        Message("user", "2 + 3?", name="alice"),
        Message("assistant", "5", name="glm"),
        Message("user", "And 3 + 4?", name="alice"),
    ),
}
OUTPUT = StructuredOutput(
    "answer",
    {
        "type": "object",
        "properties": {"answer": {"type": "integer"}, "why": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    },
)
# every suite parameter, with the values a suite may give it; the first is the typical one
PARAM_VALUES: dict[str, tuple[Any, ...]] = {
    "max_output_tokens": (1024, 1, 1_000_000),
    "temperature": (0.6, 0, 2.0),
    "top_p": (0.95, 1),
    "seed": (7, 0, 2**63 - 1),
    "stop": ("END", ["END"], ["END", "\n\n", "###", "</answer>"]),  # vLLM: at most 4
    "top_k": (40, -1),
    "min_p": (0.05, 0),
    "presence_penalty": (0.5, -2, 2),
    "frequency_penalty": (-0.5, 2, -2),
    "extra": (
        {"chat_template_kwargs": {"clear_thinking": False}, "repetition_penalty": 1.1},
        {"chat_template_kwargs": {"clear_thinking": False}},
        {"repetition_penalty": 1.1},
    ),
}
EVERY_PARAM: dict[str, Any] = {name: values[0] for name, values in PARAM_VALUES.items()}


def label(value: Any) -> str:
    if isinstance(value, Mapping):
        return "+".join(value)
    if isinstance(value, list):
        return f"list{len(value)}"
    return str(value) if str(value).isprintable() else repr(value)


def core_calls() -> Iterator[tuple[str, Call]]:
    """API x effort x stream x structured output (x budget, Chat only), every parameter."""
    budgets: dict[Api, tuple[int | None, ...]] = {"chat": (None, 1, 10**6), "responses": (None,)}
    for api in APIS:
        product = itertools.product(EFFORTS, (False, True), (None, OUTPUT), budgets[api])
        for effort, stream, output, budget in product:
            name = "-".join(
                [api, effort, "stream" if stream else "whole", "json" if output else "text"]
                + ([f"budget{budget}"] if budget is not None else [])
            )
            yield name, Call(api, SYSTEM_USER, effort, EVERY_PARAM, output, stream, budget)


def shape_calls() -> Iterator[tuple[str, Call]]:
    """API x message shape, with and without an effort."""
    for api, shape, effort in itertools.product(APIS, SHAPES, ("default", "none")):
        yield f"{api}-{shape}-{effort}", Call(api, SHAPES[shape], effort)


def param_calls() -> Iterator[tuple[str, Call]]:
    """API x each value of each parameter, alone; ``extra`` also with effort ``none`` (its
    ``chat_template_kwargs`` merged with ``enable_thinking: false``); no model at all."""
    for api, (name, values) in itertools.product(APIS, PARAM_VALUES.items()):
        for value in values:
            yield f"{api}-{name}={label(value)}", Call(api, SYSTEM_USER, params={name: value})
    for api, extra in itertools.product(APIS, PARAM_VALUES["extra"]):
        params = {"extra": extra, "max_output_tokens": 256}
        yield f"{api}-none-extra={label(extra)}", Call(api, SYSTEM_USER, "none", params)
    for api in APIS:
        yield f"{api}-no-model", Call(api, SYSTEM_USER, model="")


CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = Tool("get_weather", "The weather now in a city.", CITY)
CLOCK = Tool("get_time")  # no description, no parameters
SEARCH = Tool(
    "search",
    "Search the web.",
    {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1},
            "filters": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"}}},
        },
        "required": ["query"],
        "additionalProperties": False,
    },
)  # fmt: skip
TOOL_SETS: dict[str, tuple[Tool, ...]] = {"one": (WEATHER,), "several": (WEATHER, CLOCK, SEARCH)}
TOOL_CHOICE_FORMS: tuple[str | Mapping[str, str] | None, ...] = (
    None, "auto", "required", "none", {"name": "get_weather"},
)  # fmt: skip
PARIS = ToolCall("call_1", "get_weather", {"city": "Paris"})
ASKED = Message("user", "Weather in Paris, and the time?")
CONVERSATIONS: dict[str, tuple[Message, ...]] = {
    "called": (ASKED, Message("assistant", "", tool_calls=(PARIS,)), Message("tool", '{"temp_c": 18}', tool_call_id="call_1")),
    "text+calls": (
        Message("system", "Use the tools."),
        ASKED,
        Message("assistant", "Looking both up.", tool_calls=(PARIS, ToolCall("call_2", "get_time", {}))),
        Message("tool", "18 C", tool_call_id="call_1"),
        Message("tool", "14:05", tool_call_id="call_2"),
    ),
    "two-rounds": (
        ASKED,
        Message("assistant", "", tool_calls=(PARIS,)),
        Message("tool", "18 C", tool_call_id="call_1"),
        Message("assistant", "It is 18 C."),
        Message("user", "And the time?"),
        Message("assistant", "", tool_calls=(ToolCall("call_2", "get_time", None, raw='{"city":"Paris"}'),)),
        Message("tool", "14:05", tool_call_id="call_2"),
    ),
    "named": (  # Chat sends the assistant's name beside its calls
        Message("user", "Weather?", name="alice"),
        Message("assistant", "", name="glm", tool_calls=(PARIS,)),
        Message("tool", "18 C", tool_call_id="call_1"),
    ),
    "unparsed": (  # a call whose text is not JSON, replayed as it was made
        ASKED,
        Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", None, '{"city": Paris}', "not JSON"),)),
        Message("tool", "error: arguments are not JSON", tool_call_id="call_1"),
    ),
}  # fmt: skip


def tool_calls() -> Iterator[tuple[str, Call]]:
    """API x tool set x every tool_choice; API x conversation with calls and tool turns,
    whole and streamed; one body with every dimension at once."""
    for api, (name, tools), choice in itertools.product(APIS, TOOL_SETS.items(), TOOL_CHOICE_FORMS):
        shown = "default" if choice is None else choice if isinstance(choice, str) else "named"
        yield (
            f"{api}-tools-{name}-choice-{shown}",
            Call(api, SYSTEM_USER, tools=tools, tool_choice=choice),
        )
    for api, (name, messages), stream in itertools.product(
        APIS, CONVERSATIONS.items(), (False, True)
    ):
        call = Call(api, messages, stream=stream, tools=TOOL_SETS["several"], tool_choice="auto")
        yield f"{api}-conversation-{name}-{'stream' if stream else 'whole'}", call
    for api in APIS:
        budget = 512 if api == "chat" else None
        yield f"{api}-tools-everything", Call(
            api, CONVERSATIONS["text+calls"], "none", EVERY_PARAM, OUTPUT, True, budget,
            tools=TOOL_SETS["several"], tool_choice={"name": "search"},
        )  # fmt: skip


CALLS: dict[str, Call] = dict(
    itertools.chain(core_calls(), shape_calls(), param_calls(), tool_calls())
)


@pytest.mark.parametrize("call", list(CALLS.values()), ids=list(CALLS))
def test_every_body_is_one_vllm_accepts_in_full(
    call: Call, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_contract(call.request(), monkeypatch)


@pytest.mark.parametrize("effort", EFFORTS)
@pytest.mark.parametrize("budget", [1, 1024])
def test_a_thinking_budget_is_refused_on_responses(effort: str, budget: int) -> None:
    with pytest.raises(ValueError, match=BUDGET_CHAT_ONLY):
        Call("responses", SYSTEM_USER, effort, EVERY_PARAM, OUTPUT, budget=budget).request()


# --- the judge's requests ----------------------------------------------------------------

CTX = CheckContext(load_schema=lambda name: {})
JUDGES: dict[str, Any] = {
    "shorthand": {"judge": "The answer is 5 and says why."},
    "sampled": {"judge": {"rubric": "The answer is 5.", "samples": 3, "max_output_tokens": 256}},
    "tuned": {"judge": {"rubric": "The answer is 5.", "temperature": 0.2, "min_score": 0.7}},
}
JUDGE_EFFORTS = ("default", "none", "high", "max")


def judge_check(spec: Any) -> JudgeCheck:
    check = build_check(spec, CTX)[1]
    assert isinstance(check, JudgeCheck)
    return check.bind({})[0]


@pytest.mark.parametrize("judge", list(JUDGES.values()), ids=list(JUDGES))
@pytest.mark.parametrize("effort", JUDGE_EFFORTS)
@pytest.mark.parametrize("api", APIS)
def test_every_judge_body_is_one_vllm_accepts_in_full(
    api: Api, effort: str, judge: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        base_url="http://x", model=MODEL, judge=JudgeSettings(effort=effort, api=api)
    )
    question = question_of(SHAPES["few-shot"])
    request = judge_request(settings, judge_check(judge), question, "5, because 2 + 3 = 5.")
    assert request.api == api
    assert_contract(request, monkeypatch)


# --- the fixture, and that the checks above can fail ---------------------------------------


def test_the_fixture_is_vllm_0_33_0s_document() -> None:
    assert DOC["openapi"].startswith("3.1")
    chat = openapi.request_schema(DOC, PATHS["chat"])
    responses = openapi.request_schema(DOC, PATHS["responses"])
    assert chat is not None
    assert responses is not None
    # 0.33.0's marks: effort max on both APIs, chat_template_kwargs on Responses, budgets
    assert "max" in json.dumps(chat["properties"]["reasoning_effort"])
    assert "thinking_token_budget" in chat["properties"]
    assert "chat_template_kwargs" in responses["properties"]
    for api in APIS:
        Draft202012Validator.check_schema(openapi.request_schema(DOC, PATHS[api]) or {})


def test_the_doctor_finds_every_field_the_harness_sends_declared() -> None:
    for api, report in openapi.check_fields(DOC).items():
        assert report.found
        assert report.undeclared == (), api
        assert report.declared == openapi.sent_fields(api)


def test_the_parameter_table_covers_every_suite_parameter() -> None:
    assert tuple(PARAM_VALUES) == SUITE_PARAMS


def test_the_bodies_cover_every_dimension() -> None:
    assert 150 <= len(CALLS) <= 400  # a few hundred at most: the module runs in seconds
    assert {c.effort for c in CALLS.values()} == set(EFFORTS)
    assert {(c.api, c.stream, c.structured_output is None) for c in CALLS.values()} == set(
        itertools.product(APIS, (False, True), (False, True))
    )
    assert {c.budget for c in CALLS.values() if c.api == "chat"} > {None}
    choices = {(c.api, json.dumps(c.tool_choice)) for c in CALLS.values() if c.tools}
    assert choices >= {(api, json.dumps(c)) for api in APIS for c in TOOL_CHOICE_FORMS}
    shapes = {(c.api, m.role, bool(m.tool_calls)) for c in CALLS.values() for m in c.messages}
    assert shapes >= {
        (api, r, t) for api in APIS for r, t in (("assistant", True), ("tool", False))
    }


# each break: a valid body changed as build_request might get it wrong, and what is said
BREAKS: list[tuple[Api, dict[str, Any], str]] = [
    ("chat", {"reasoning_effort": "maximum"}, "$.reasoning_effort: 'maximum' is not one of"),
    ("responses", {"reasoning": {"effort": "maximum"}}, "$.reasoning.effort: 'maximum' is not one of"),
    ("chat", {"max_completion_tokens": "1024"}, "$.max_completion_tokens: '1024' is not of type 'integer'"),
    ("responses", {"max_output_tokens": 10.5}, "$.max_output_tokens: 10.5 is not of type 'integer'"),
    ("chat", {"thinking_token_budget": "512"}, "$.thinking_token_budget: '512' is not of type 'integer'"),
    ("chat", {"stop": ["a", "b", "c", "d", "e"]}, "$.stop: ['a', 'b', 'c', 'd', 'e'] is too long"),
    ("responses", {"presence_penalty": 2.5}, "$.presence_penalty: 2.5 is greater than the maximum of 2.0"),
    ("chat", {"messages": [{"role": "user", "content": 5}]}, "$.messages[0]"),  # any role is a str
    ("responses", {"input": [{"role": "tool", "content": "x"}]}, "$.input"),
    ("chat", {"response_format": {"type": "json"}}, "$.response_format.type: 'json' is not one of"),
    ("responses", {"text": {"format": {"type": "json_schema", "name": "x"}}}, "'schema' is a required property"),
    ("chat", {"stream_options": {"include_usage": "yes"}}, "$.stream_options.include_usage: 'yes' is not of type 'boolean'"),
    ("chat", {"tools": [{"type": "function", "name": "f", "parameters": {}}]}, "$.tools[0]: 'function' is a required property"),  # Responses' flat form
    ("chat", {"tool_choice": {"type": "function", "name": "f"}}, "$.tool_choice: 'function' is a required property"),
    ("chat", {"tool_choice": "any"}, "$.tool_choice: 'auto' was expected"),
    ("chat", {"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": {"a": 1}}}]}]}, "$.messages[0].tool_calls[0].function.arguments: {'a': 1} is not of type 'string'"),
    ("responses", {"tools": [{"type": "function", "function": {"name": "f"}}]}, "$.tools[0]: 'name' is a required property"),  # Chat's nested form
    ("responses", {"tool_choice": {"type": "function", "function": {"name": "f"}}}, "$.tool_choice: 'name' is a required property"),
    ("responses", {"input": [{"type": "function_call", "call_id": "c", "name": "f", "arguments": {"a": 1}}]}, "$.input"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("api", "change", "said"), BREAKS, ids=[f"{a}-{'+'.join(c)}" for a, c, _ in BREAKS]
)
def test_a_body_vllm_refuses_fails_naming_the_field(
    api: Api, change: dict[str, Any], said: str
) -> None:
    body = Call(api, SYSTEM_USER, "high", EVERY_PARAM, OUTPUT, stream=True).request().body
    assert schema_errors(api, body) == []
    errors = schema_errors(api, {**body, **change})
    assert any(said in error for error in errors), errors


# each a field the schema accepts (vLLM allows extra fields) but does not declare
DROPS: list[tuple[Api, dict[str, Any], list[str]]] = [
    ("chat", {"max_output_tokens": 5}, ["max_output_tokens"]),  # Responses' name on Chat
    ("responses", {"max_completion_tokens": 5}, ["max_completion_tokens"]),
    ("responses", {"thinking_token_budget": 5}, ["thinking_token_budget"]),
    ("responses", {"stream_options": {"include_usage": True}}, ["stream_options"]),
    ("chat", {"reasoning": {"effort": "high"}}, ["reasoning"]),
    ("responses", {"reasoning": {"effort": "high", "budget": 5}}, ["reasoning.budget"]),
    ("chat", {"enable_thinking": False}, ["enable_thinking"]),  # not under chat_template_kwargs
]


@pytest.mark.parametrize(
    ("api", "change", "dropped"), DROPS, ids=[f"{a}-{'+'.join(d)}" for a, _, d in DROPS]
)
def test_a_field_vllm_would_drop_fails_naming_it(
    api: Api, change: dict[str, Any], dropped: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    body = {**Call(api, SYSTEM_USER, "high", EVERY_PARAM, OUTPUT).request().body, **change}
    assert schema_errors(api, body) == []  # accepted: the schema alone cannot tell
    assert undeclared(api, body, monkeypatch) == dropped


def test_the_checks_see_the_whole_body(monkeypatch: pytest.MonkeyPatch) -> None:
    body = Call("chat", SHAPES["named"], "none", EVERY_PARAM, OUTPUT, True, 512).request().body
    assert set(fields_of(body)) >= {
        "messages", "reasoning_effort", "chat_template_kwargs.enable_thinking",
        "chat_template_kwargs.clear_thinking", "thinking_token_budget", "response_format.json_schema",
        "stream_options.include_usage", "repetition_penalty",
    }  # fmt: skip
    assert undeclared("chat", body, monkeypatch) == []


# each inner object changed as build_request might get it wrong: the union of its list
# accepts it (a catch-all branch), the schema of its own kind does not
INNER: list[tuple[Api, dict[str, Any], str]] = [
    ("chat", {"messages": [{"role": "tool", "content": "18"}]}, "$.messages[0] (ChatCompletionToolMessageParam): $: 'tool_call_id' is a required property"),
    ("chat", {"messages": [{"role": "tool", "tool_call_id": "c", "content": "18", "name": "f"}]}, "$.messages[0].name: not declared by ChatCompletionToolMessageParam"),
    ("chat", {"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]}]}, "ChatCompletionMessageFunctionToolCallParam): $: 'type' is a required property"),
    ("chat", {"tools": [{"type": "function", "function": {"name": "f", "args": {}}}]}, f"$.tools[0].function.args: not declared by {FUNCTION_DEFINITION}"),
    ("responses", {"input": [{"type": "function_call_output", "call_id": "c", "output": "18", "tool_call_id": "c"}]}, "$.input[0].tool_call_id: not declared by FunctionCallOutput"),
    ("responses", {"input": [{"role": "assistant", "content": "", "tool_calls": []}]}, "$.input[0].tool_calls: not declared by EasyInputMessageParam"),
    ("responses", {"tools": [{"type": "function", "name": "f", "parameters": {}, "function": {}}]}, "$.tools[0].function: not declared by FunctionTool"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("api", "change", "said"), INNER, ids=[f"{a}-{s.split(':')[0]}" for a, _, s in INNER]
)
def test_an_inner_object_vllm_would_misread_fails_naming_it(api: Api, change: dict[str, Any], said: str) -> None:  # fmt: skip
    body = {**Call(api, SYSTEM_USER, tools=(WEATHER,)).request().body, **change}
    assert part_problems(api, Call(api, SYSTEM_USER, tools=(WEATHER,)).request().body) == []
    problems = part_problems(api, body)
    assert any(said in problem for problem in problems), problems
