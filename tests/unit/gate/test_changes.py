"""harness.gate.changes against real git repositories built in tmp_path.

One project is committed once per module (tag ``base``); each test works on a copy of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.gate.changes import Selection, changed_files, describe, select, suite_dependencies

GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}

PROJECT = {
    ".gitignore": "*.log\n",
    "README.md": "project\n",
    # main: a file template whose partials chain a -include-> b -import-> c -extends-> d,
    # a json_schema check nested in `all:` and a structured_output schema
    "suites/main.yaml": """\
template: main/q.j2
structured_output: schemas/out.json
expect:
  - all:
      - contains: x
      - not: {json_schema: {schema: schemas/check.json}}
cases:
  - id: add
    vars: {question: "2 + 3"}
""",
    "evals/main/q.j2": (
        "Q: {{ question }}\n"
        '{% include "partials/a.j2" %}\n'
        '{% include "partials/optional.j2" ignore missing %}\n'
    ),
    "evals/partials/a.j2": '{% include "partials/b.j2" %}\n',
    "evals/partials/b.j2": '{% import "partials/c.j2" as c %}{{ c.line() }}\n',
    "evals/partials/c.j2": '{% extends "partials/d.j2" %}{% block body %}c{% endblock %}\n',
    "evals/partials/d.j2": "{% block body %}{% endblock %}\n",
    "evals/schemas/check.json": '{"type": "object"}\n',
    "evals/schemas/out.json": '{"type": "object"}\n',
    # inline: an inline prompt that includes a partial
    "suites/inline.yaml": """\
prompt: 'Say hi. {% include "partials/e.j2" %}'
cases:
  - id: hi
""",
    "evals/partials/e.j2": "Be brief.\n",
    # other: uses none of the files above
    "suites/other.yaml": """\
template: other/plain.j2
expect:
  - json_schema: schemas/other.json
cases:
  - id: plain
""",
    "evals/other/plain.j2": "Plain.\n",
    "evals/schemas/other.json": "{}\n",
    "evals/unused.j2": "Nobody uses me.\n",
}
SUITES = [Path("suites/main.yaml"), Path("suites/inline.yaml"), Path("suites/other.yaml")]
MAIN, INLINE = SUITES[0], SUITES[1]


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, env=GIT_ENV, check=True
    )
    return done.stdout


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def commit_all(root: Path, message: str = "change") -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-gpg-sign", "-m", message)


def make_repo(root: Path, files: dict[str, str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q")
    write(root, files)
    commit_all(root, "base")
    git(root, "tag", "base")


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("template") / "repo"
    make_repo(root, PROJECT)
    return root


@pytest.fixture
def repo(template_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM"):
        monkeypatch.setenv(name, GIT_ENV[name])
    root = tmp_path / "repo"
    shutil.copytree(template_repo, root, symlinks=True)
    return root


def run(root: Path, ref: str = "base") -> Selection:
    return select(SUITES, root=root, evals_dir=Path("evals"), ref=ref)


def edit(name: str) -> Callable[[Path], None]:
    def do(root: Path) -> None:
        with (root / name).open("a", encoding="utf-8") as f:
            f.write("# edited\n")

    return do


def delete(name: str) -> Callable[[Path], None]:
    return lambda root: (root / name).unlink()


def add(name: str) -> Callable[[Path], None]:
    return lambda root: write(root, {name: "new\n"})


def staged(name: str) -> Callable[[Path], None]:
    def do(root: Path) -> None:
        edit(name)(root)
        git(root, "add", name)

    return do


def committed(change: Callable[[Path], None]) -> Callable[[Path], None]:
    def do(root: Path) -> None:
        change(root)
        commit_all(root)

    return do


def rename(old: str, new: str) -> Callable[[Path], None]:
    def do(root: Path) -> None:
        git(root, "mv", old, new)
        commit_all(root)

    return do


CHAIN = (
    "evals/partials/d.j2 changed (extended by evals/partials/c.j2, imported by "
    "evals/partials/b.j2, included by evals/partials/a.j2, included by evals/main/q.j2, "
    "template of the suite)"
)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(lambda root: None, {}, id="no-change"),
        pytest.param(edit("suites/main.yaml"), {MAIN: ["suites/main.yaml changed"]}, id="suite"),
        pytest.param(edit("evals/partials/d.j2"), {MAIN: [CHAIN]}, id="deep-partial"),
        pytest.param(
            edit("evals/main/q.j2"),
            {MAIN: ["evals/main/q.j2 changed (template of the suite)"]},
            id="template",
        ),
        pytest.param(
            edit("evals/schemas/check.json"),
            {
                MAIN: [
                    "evals/schemas/check.json changed (schema of a json_schema check of the suite)"
                ]
            },
            id="nested-json-schema",
        ),
        pytest.param(
            edit("evals/schemas/out.json"),
            {MAIN: ["evals/schemas/out.json changed (structured output schema of the suite)"]},
            id="structured-output",
        ),
        pytest.param(
            edit("evals/partials/e.j2"),
            {INLINE: ["evals/partials/e.j2 changed (included by the prompt of the suite)"]},
            id="inline-prompt-include",
        ),
        pytest.param(
            add("evals/partials/optional.j2"),
            {
                MAIN: [
                    "evals/partials/optional.j2 changed "
                    "(included by evals/main/q.j2, template of the suite)"
                ]
            },
            id="untracked-new-file",
        ),
        pytest.param(
            delete("evals/partials/b.j2"),
            {
                MAIN: [
                    "evals/partials/b.j2 changed "
                    "(included by evals/partials/a.j2, included by evals/main/q.j2, "
                    "template of the suite)"
                ]
            },
            id="deleted-partial",
        ),
        pytest.param(staged("evals/partials/a.j2"), {MAIN: ...}, id="staged"),
        pytest.param(committed(edit("evals/partials/c.j2")), {MAIN: ...}, id="committed"),
        pytest.param(
            committed(delete("evals/partials/d.j2")), {MAIN: [CHAIN]}, id="deleted-commit"
        ),
        pytest.param(
            rename("evals/partials/c.j2", "evals/partials/c2.j2"), {MAIN: ...}, id="renamed"
        ),
        pytest.param(edit("evals/unused.j2"), {}, id="unused-file"),
        pytest.param(edit("README.md"), {}, id="outside-evals"),
        pytest.param(add("evals/partials/debug.log"), {}, id="ignored-file"),
        pytest.param(
            lambda root: write(root, {"suites/main.yaml": PROJECT["suites/main.yaml"]}),
            {},
            id="same-content",
        ),
    ],
)
def test_select(
    repo: Path, change: Callable[[Path], None], expected: dict[Path, list[str] | object]
) -> None:
    change(repo)
    selection = run(repo)
    assert set(selection.selected) == set(expected)
    for suite, reasons in expected.items():
        if reasons is not ...:
            assert selection.selected[suite] == reasons
    assert selection.skipped == [s for s in SUITES if s not in expected]


def test_rename_counts_under_both_names(repo: Path) -> None:
    rename("evals/partials/c.j2", "evals/partials/c2.j2")(repo)
    assert changed_files(repo, "base") == ["evals/partials/c.j2", "evals/partials/c2.j2"]


def test_changed_files_lists_every_kind_of_change(repo: Path) -> None:
    committed(edit("evals/partials/a.j2"))(repo)
    edit("evals/partials/b.j2")(repo)
    staged("evals/partials/c.j2")(repo)
    delete("evals/partials/d.j2")(repo)
    add("evals/new dir/ünïcode.j2")(repo)
    add("evals/x.log")(repo)
    assert changed_files(repo, "base") == [
        "evals/new dir/ünïcode.j2",
        *(f"evals/partials/{c}.j2" for c in "abcd"),
    ]
    assert changed_files(repo, "HEAD") == [
        "evals/new dir/ünïcode.j2",
        *(f"evals/partials/{c}.j2" for c in "bcd"),
    ]


def test_root_in_a_subfolder_of_the_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    make_repo(repo, {"outside.txt": "x\n", **{f"proj/{k}": v for k, v in PROJECT.items()}})
    root = repo / "proj"
    edit("proj/evals/partials/d.j2")(repo)
    edit("outside.txt")(repo)
    add("new.txt")(repo)
    assert changed_files(root, "base") == ["../new.txt", "../outside.txt", "evals/partials/d.j2"]
    selection = select(SUITES, root=root, evals_dir=root / "evals", ref="base")
    assert selection.selected == {MAIN: [CHAIN]}
    # absolute suite paths work too and are shown relative to root
    absolute = select([root / MAIN], root=root, evals_dir=Path("evals"), ref="base")
    assert describe(absolute, "base", root)[1] == f"  suites/main.yaml: {CHAIN}"


def test_unknown_ref(repo: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--glm-changed-since no-such-ref: unknown git ref"):
        changed_files(repo, "no-such-ref")


@pytest.mark.parametrize("ref", ["", "--output=x"])
def test_ref_that_is_not_a_ref(repo: Path, ref: str) -> None:
    with pytest.raises(ConfigError, match="not a git ref"):
        changed_files(repo, ref)


def test_not_a_git_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    (tmp_path / "plain").mkdir()
    with pytest.raises(ConfigError, match=r"^--glm-changed-since main: .* not in a git repo"):
        select(SUITES, root=tmp_path / "plain", evals_dir=Path("evals"), ref="main")


def test_git_missing(repo: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match=r"^--glm-changed-since main: git is not installed$"):
        changed_files(repo, "main")


DYNAMIC = "dynamic include in evals/dyn.j2: every template counts"


@pytest.mark.parametrize(
    "change",
    [edit("evals/unused.j2"), delete("evals/unused.j2"), add("evals/brand/new.j2")],
    ids=["edit", "delete", "add"],
)
def test_dynamic_include_makes_every_evals_file_count(
    repo: Path, change: Callable[[Path], None]
) -> None:
    write(repo, {"suites/dyn.yaml": "template: dyn.j2\n", "evals/dyn.j2": "{% include name %}"})
    commit_all(repo)
    git(repo, "tag", "dyn")
    deps = suite_dependencies(Path("suites/dyn.yaml"), root=repo, evals_dir=Path("evals"))
    assert deps["evals/"] == DYNAMIC
    assert deps["evals/unused.j2"] == DYNAMIC
    assert deps["evals/schemas/out.json"] == DYNAMIC
    change(repo)
    selection = select([Path("suites/dyn.yaml")], root=repo, evals_dir=Path("evals"), ref="dyn")
    assert list(selection.selected) == [Path("suites/dyn.yaml")]
    assert selection.selected[Path("suites/dyn.yaml")][0].endswith(f"changed ({DYNAMIC})")


def deps_of(tmp_path: Path, suite: str, evals: dict[str, str]) -> dict[str, str]:
    write(tmp_path, {"suites/s.yaml": suite, **{f"evals/{k}": v for k, v in evals.items()}})
    return suite_dependencies(tmp_path / "suites/s.yaml", root=tmp_path, evals_dir=Path("evals"))


def test_every_kind_of_reference(tmp_path: Path) -> None:
    suite = """\
system_template: sys.j2
messages:
  - {role: user, template: m.j2}
  - {role: assistant, content: '{% from "macros.j2" import x %}{{ x() }}'}
expect:
  - reasoning: {json: {pointer: /a, json_schema: r.json}}
  - any: [{json_schema: {schema: {type: object}}}, {json_schema: a.json}]
cases:
  - id: c1
    system: '{% include ["l1.j2", "l2.j2"] %}'
    template: t.j2
    structured_output: missing.json
  - prompt: '{% extends "base.j2" if x else "alt.j2" %}'
"""
    evals = {"sys.j2": "", "m.j2": "", "macros.j2": "", "t.j2": "", "l1.j2": ""}
    assert deps_of(tmp_path, suite, evals) == {
        "suites/s.yaml": "the suite",
        "evals/sys.j2": "system template of the suite",
        "evals/m.j2": "template of messages[0] of the suite",
        "evals/macros.j2": "imported by messages[1].content of the suite",
        "evals/r.json": "schema of a json_schema check of the suite",
        "evals/a.json": "schema of a json_schema check of the suite",
        "evals/t.j2": "template of case c1",
        "evals/l1.j2": "included by the system message of case c1",
        "evals/l2.j2": "included by the system message of case c1",
        "evals/missing.json": "structured output schema of case c1",
        "evals/base.j2": "extended by the prompt of cases[1]",
        "evals/alt.j2": "extended by the prompt of cases[1]",
    }


def test_schema_refs_are_followed_relative_to_their_file(tmp_path: Path) -> None:
    """A pull request that changes only a schema another schema refers to must still
    select the suite (else the gate would not run it)."""
    evals = {
        "schemas/person.json": '{"properties": {"a": {"$ref": "defs/age.json#/x"}}, '
        '"items": [{"$ref": "#/local"}, {"$ref": "http://elsewhere/x.json"}]}',
        "schemas/defs/age.json": '{"$ref": "../person.json", "x": {"$ref": "more.json"}}',
        "schemas/defs/more.json": "{not json",
        "out.json": "{}",
    }
    suite = "expect: [{json_schema: schemas/person.json}]\nstructured_output: schemas/defs/../../out.json\n"
    assert deps_of(tmp_path, suite, evals) == {
        "suites/s.yaml": "the suite",
        "evals/schemas/person.json": "schema of a json_schema check of the suite",
        "evals/schemas/defs/age.json": "$ref in evals/schemas/person.json, schema of a json_schema check of the suite",
        "evals/schemas/defs/more.json": "$ref in evals/schemas/defs/age.json, $ref in evals/schemas/person.json, schema of a json_schema check of the suite",
        "evals/out.json": "structured output schema of the suite",
    }


def test_cycles_end_and_nothing_outside_evals_is_followed(tmp_path: Path) -> None:
    write(tmp_path, {"secret.j2": '{% include "evals/a.j2" %}'})
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals/link.j2").symlink_to(tmp_path / "secret.j2")
    evals = {
        "a.j2": '{% include "b.j2" %}{% include "../secret.j2" %}{% include "/etc/passwd" %}',
        "b.j2": '{% include "a.j2" %}{% include "link.j2" %}{% include "sub/../a.j2" %}',
    }
    assert deps_of(tmp_path, "template: a.j2\n", evals) == {
        "suites/s.yaml": "the suite",
        "evals/a.j2": "template of the suite",
        "evals/b.j2": "included by evals/a.j2, template of the suite",
    }


@pytest.mark.parametrize(
    "text",
    ["template: [unclosed\n", "- just a list\n", "", "template: 5\ncases: 3\n"],
    ids=["yaml-error", "not-a-mapping", "empty", "wrong-types"],
)
def test_broken_suite_depends_on_itself_only(tmp_path: Path, text: str) -> None:
    assert deps_of(tmp_path, text, {}) == {"suites/s.yaml": "the suite"}


def test_template_with_a_syntax_error_is_listed_not_followed(tmp_path: Path) -> None:
    deps = deps_of(tmp_path, "template: t.j2\nprompt: '{% include'\n", {"t.j2": "{% if %}"})
    assert deps == {"suites/s.yaml": "the suite", "evals/t.j2": "template of the suite"}


def test_new_untracked_suite_is_selected(repo: Path) -> None:
    write(repo, {"suites/new.yaml": "template: other/plain.j2\n"})
    new = Path("suites/new.yaml")
    selection = select([*SUITES, new], root=repo, evals_dir=Path("evals"), ref="base")
    assert selection.selected == {new: ["suites/new.yaml changed"]}


def test_describe(repo: Path) -> None:
    edit("evals/partials/d.j2")(repo)
    edit("suites/main.yaml")(repo)
    edit("evals/partials/e.j2")(repo)
    lines = describe(run(repo), "base", repo)
    assert lines == [
        "glm-harness --glm-changed-since base: 2 of 3 suites selected",
        f"  suites/main.yaml: suites/main.yaml changed; {CHAIN}",
        "  suites/inline.yaml: evals/partials/e.j2 changed (included by the prompt of the suite)",
        "  not selected: suites/other.yaml",
    ]
    assert describe(Selection({}, [], []), "HEAD", repo) == [
        "glm-harness --glm-changed-since HEAD: 0 of 0 suites selected"
    ]


ALIAS_BOMB = (
    "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(9)
    )
    + "template: t.j2\n"
)


def test_suites_it_cannot_read_are_selected_never_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Attack: a suite the bounded loader refuses (an alias bomb of 9**10 nodes in under
    # 1 KB; a file over 2 MB) must neither hang the selection nor drop out of the gate.
    for name in ("GIT_CONFIG_GLOBAL", "GIT_CONFIG_NOSYSTEM"):
        monkeypatch.setenv(name, GIT_ENV[name])
    root = tmp_path / "repo"
    huge = "template: t.j2\n" + "# padding\n" * 300_000
    make_repo(root, {"suites/bomb.yaml": ALIAS_BOMB, "suites/huge.yaml": huge,
                     "suites/ok.yaml": "template: t.j2\n", "evals/t.j2": "hi"})  # fmt: skip
    assert len(ALIAS_BOMB) < 1_000
    suites = [Path("suites/bomb.yaml"), Path("suites/huge.yaml"), Path("suites/ok.yaml")]
    started = time.monotonic()
    selection = select(suites, root=root, evals_dir=Path("evals"), ref="base")
    assert time.monotonic() - started < 5
    assert selection.selected == {
        Path("suites/bomb.yaml"): [
            "cannot be read (more than 200000 YAML nodes (alias bomb?); refused): selected"
        ],
        Path("suites/huge.yaml"): ["cannot be read (file is larger than 2 MB; refused): selected"],
    }
    assert selection.skipped == [Path("suites/ok.yaml")]  # nothing it uses changed


def test_a_fifo_named_like_a_suite_does_not_block(tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    os.mkfifo(tmp_path / "suites" / "s.yaml")
    assert deps_of_existing(tmp_path) == {"suites/s.yaml": "the suite"}


def deps_of_existing(root: Path) -> dict[str, str]:
    return suite_dependencies(Path("suites/s.yaml"), root=root, evals_dir=Path("evals"))


def test_datasets_variants_and_their_rows_are_dependencies(tmp_path: Path) -> None:
    """A data change is a prompt change: the dataset, each variant's template and the
    files a case row of the dataset names all select the suite."""
    suite = """\
dataset: data/rows.jsonl
prompts:
  - {id: terse, template: terse.j2}
  - {id: careful, messages: [{role: user, template: careful.j2}], system_template: sys.j2}
expect: [{is_json: {schema: s.json}}]
"""
    rows = '{"id": "a", "q": 1}\n{"id": "b", "vars": {"q": 2}, "structured_output": "row.json"}\n'
    evals = {"data/rows.jsonl": rows, "terse.j2": "", "careful.j2": "", "sys.j2": ""}
    evals |= {"schemas/x.json": "{}"}
    deps = deps_of(tmp_path, suite, evals)
    assert deps["evals/data/rows.jsonl"] == "dataset of the suite"
    assert deps["evals/terse.j2"] == "template of prompt terse"
    assert deps["evals/careful.j2"] == "template of messages[0] of prompt careful"
    assert deps["evals/sys.j2"] == "system template of prompt careful"
    assert deps["evals/s.json"] == "schema of a json_schema check of the suite"
    assert deps["evals/row.json"] == "structured output schema of row 2 of data/rows.jsonl"
    assert "evals/schemas/x.json" not in deps
    # a schema named by a template may be any schema: every file under evals/ counts
    suite += "  - json_schema: 'schemas/{{ kind }}.json'\n"
    deps = deps_of(tmp_path, suite.replace("[{is_json: {schema: s.json}}]", ""), evals)
    assert deps["evals/schemas/x.json"].startswith("schema named by a template")


def test_a_tools_file_is_a_dependency(tmp_path: Path) -> None:
    suite = "prompt: hi\ntools: tools/weather.json\ncases:\n  - {id: a, tools: tools/other.yaml}\n"
    deps = deps_of(tmp_path, suite, {"tools/weather.json": "[]", "tools/other.yaml": "[]"})
    assert deps["evals/tools/weather.json"] == "tools of the suite"
    assert deps["evals/tools/other.yaml"] == "tools of case a"
