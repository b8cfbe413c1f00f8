"""Attacks on templates: every way to make a render run long or grow huge is refused in a
fraction of a second, with a one-line error; ordinary templates render as before."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from harness.errors import TemplateError
from harness.suites import sandbox
from harness.suites.templates import Templates, read_evals_file

# fmt: off
ATTACKS = [
    ("nested-ranges", "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
     "more than 1,000,000 loop iterations in one render"),
    ("big-range", "{% for i in range(100000) %}{% endfor %}", "range of 100,000 items; at most 10,000"),
    ("nested-strings", "{% for c in 'a' * 100000 %}{% for d in 'a' * 100000 %}{% endfor %}{% endfor %}",
     "more than 1,000,000 loop iterations"),
    ("power-tower", "{{ 9**(9**10) }}", "9 ** 3486784401 has more than 4,000 digits"),
    ("power-in-loop", "{% set ns = namespace(n=2) %}{% for i in range(64) %}{% set ns.n = ns.n * ns.n %}"
     "{% endfor %}{{ ns.n }}", "a product of more than 4,000 digits"),
    ("string-times", "{{ 'a' * 10**9 }}", "str * 1000000000 of about 1,000,000,000 characters"),
    ("times-string", "{{ 10**9 * 'ab' }}", "str * 1000000000"),
    ("list-times", "{{ [1, 2] * 10**8 }}", "list * 100000000"),
    ("nested-list-times", "{{ [[1] * 100000] * 100000 }}", "list * 100000"),
    ("concat-doubling", "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
     "{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "a string joined with ~"),
    ("plus-doubling", "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
     "{% set ns.s = ns.s + ns.s %}{% endfor %}", "a + result"),
    ("shared-list-printed", "{% set ns = namespace(s=[1]) %}{% for i in range(60) %}"
     "{% set ns.s = [ns.s, ns.s] %}{% endfor %}{{ ns.s }}", "a value to print"),
    ("shared-list-joined", "{% set ns = namespace(s=['a']) %}{% for i in range(60) %}"
     "{% set ns.s = [ns.s, ns.s] %}{% endfor %}{{ ns.s|join }}", "an argument of the join filter"),
    ("center-filter", "{{ 'a'|center(1000000000) }}", "the center filter(1000000000)"),
    ("indent-filter", "{{ 'a\nb'|indent(10**9) }}", "the indent filter(1000000000)"),
    ("str-method", "{{ 'a'.ljust(10**9) }}", "ljust(1000000000)"),
    ("printf-width", "{{ '%0999999999d' % 1 }}", "format width 999999999 is larger than 100,000"),
    ("format-filter", "{{ '%999999999s'|format('x') }}", "format width 999999999"),
    ("format-method", "{{ '{:>999999999}'.format(1) }}", "format width 999999999"),
    ("lipsum", "{{ lipsum(10**5) }}", "lipsum: at most 100 paragraphs"),
    ("output", "{% for i in range(10000) %}{{ 'x' * 200 }}{% endfor %}",
     "the rendered text is longer than 1,000,000 characters"),
    ("macro-output", "{% macro m() %}{% for i in range(9999) %}{{ i }}{% endfor %}{% endmacro %}"
     "{% for i in range(9999) %}{{ m() }}{% endfor %}", "longer than 1,000,000 characters"),
]
# fmt: on


@pytest.fixture
def templates(tmp_path: Path) -> Templates:
    (tmp_path / "evals").mkdir()
    return Templates(tmp_path / "evals")


@pytest.mark.parametrize(("source", "why"), [pytest.param(*a[1:], id=a[0]) for a in ATTACKS])
def test_costly_templates_are_refused_quickly(templates: Templates, source: str, why: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError) as info:
        templates.render_string(source, {})
    assert time.monotonic() - started < 1.5
    assert info.value.message.startswith("inline template: too costly: ")
    assert why in info.value.message
    assert "\n" not in info.value.message


def test_a_template_file_names_itself(templates: Templates) -> None:
    (templates.evals_dir / "slow.j2").write_text("{{ 'a' * 10**9 }}")
    with pytest.raises(TemplateError) as info:
        templates.render_file("slow.j2", {})
    assert info.value.message.startswith("slow.j2: too costly: str * 1000000000")


def test_the_deadline_stops_a_slow_render(
    templates: Templates, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sandbox, "DEADLINE_SECONDS", 0.05)
    source = "{% for i in range(10000) %}{% for j in range(90) %}{{ (i * j)|string|length }}" \
             "{% endfor %}{% endfor %}"  # fmt: skip
    started = time.monotonic()
    with pytest.raises(TemplateError) as info:
        templates.render_string(source, {})
    assert time.monotonic() - started < 1.0
    assert "rendering took longer than 0.05 s" in info.value.message


def test_each_render_gets_its_own_budget(templates: Templates) -> None:
    loop = "{% for i in range(10000) %}{% for j in range(60) %}{% endfor %}{% endfor %}ok"
    for _ in range(3):  # 600,000 iterations each: fine alone, and the count starts over
        assert templates.render_string(loop, {})[0] == "ok"


def test_a_too_big_template_file_is_refused(templates: Templates) -> None:
    (templates.evals_dir / "big.j2").write_text("x" * (sandbox.MAX_FILE_BYTES + 1))
    with pytest.raises(TemplateError) as info:
        templates.render_file("big.j2", {})
    assert "template 'big.j2' is larger than 2 MB; refused" in info.value.message


def test_ordinary_templates_render_as_before(templates: Templates) -> None:
    source = (
        "{{ 2**10 }} {{ 'ab' * 3 }} {% for i in range(3) %}{{ loop.index }}/{{ loop.length }}"
        "{% endfor %} {{ items|join(', ') }} {{ 'x' ~ n }} {{ '%05d' % n }} {{ '{:>4}'.format(n) }}"
        " {{ 'a'|center(5) }}| {{ [1] + [2] }} {{ (items * 2)|length }} {{ lipsum(1, html=False)|length > 0 }}"
        " {% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% else %}none{% endfor %}"
    )
    text, _ = templates.render_string(source, {"items": ["a", "b"], "n": 7})
    assert text == "1024 ababab 1/32/33/3 a, b x7 00007    7   a  | [1, 2] 4 True a=1"


def test_a_template_that_is_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    """git cannot hold a FIFO, but a working tree can: opening one must not wait for a
    writer (collection would hang)."""
    evals = tmp_path / "evals"
    evals.mkdir()
    os.mkfifo(evals / "p.j2")
    with pytest.raises(TemplateError, match=r"'p\.j2' is not a regular file; refused"):
        read_evals_file(evals / "p.j2", "template")
