"""``--glm-changed-since REF``: run only the suites whose files changed since a git ref.

A suite depends on its YAML, its dataset, the templates it, its prompt variants and its
dataset's case rows name, the partials they and its inline prompts reach (include /
import / from-import / extends, transitively) and the schemas of ``structured_output``
and ``json_schema`` checks. "Changed" is the working tree against the
ref: committed, staged and unstaged edits, deletions, both names of a rename, and untracked
files that are not ignored. Paths are posix and relative to the project root.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from harness.errors import ConfigError, Problem, TemplateError
from harness.suites.datasets import read_dataset
from harness.suites.source import read_yaml
from harness.suites.templates import read_evals_file

SUITE = "the suite"
_VERBS: dict[type[nodes.Node], str] = {
    nodes.Include: "included by",
    nodes.Import: "imported by",
    nodes.FromImport: "imported by",
    nodes.Extends: "extended by",
}


@dataclass(frozen=True, slots=True)
class Selection:
    """Suites to run (each with why), suites left out, and every changed path."""

    selected: dict[Path, list[str]]
    skipped: list[Path]
    changed: list[str]


def changed_files(root: Path, ref: str) -> list[str]:
    """Every path changed between ``ref`` and the working tree, relative to ``root``, sorted.

    Raises ``ConfigError`` (one line, naming the ref) when git is missing, ``root`` is not
    in a git repository, or ``ref`` names no commit.
    """
    if not ref or ref.startswith("-"):
        raise ConfigError(f"--glm-changed-since {ref!r}: not a git ref")
    not_repo = f"{root} is not in a git repository"
    prefix = _git(root, ref, "rev-parse", "--show-prefix", fail=not_repo).strip()
    unknown = f"unknown git ref {ref!r} (no commit of that name)"
    sha = _git(root, ref, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", fail=unknown)
    # --no-renames lists a rename as a deletion and an addition: both names count
    diff = _git(root, ref, "diff", "--name-only", "--no-renames", "-z", sha.strip(), "--")
    # untracked, not ignored; ":/" and --full-name: the whole repository, top-level paths
    others = _git(
        root, ref, "ls-files", "--others", "--exclude-standard", "--full-name", "-z", "--", ":/"
    )
    top = {p for p in (diff + "\0" + others).split("\0") if p}
    base = prefix.rstrip("/") or "."
    return sorted({posixpath.relpath(p, base) for p in top})


def _git(root: Path, ref: str, *args: str, fail: str = "") -> str:
    # diff.relative would make diff paths relative to root while ls-files' are not
    cmd = ["git", "-C", str(root), "-c", "diff.relative=false", *args]
    try:
        done = subprocess.run(
            cmd, capture_output=True, encoding="utf-8", errors="surrogateescape", check=False
        )
    except OSError as exc:
        why = "git is not installed" if isinstance(exc, FileNotFoundError) else f"git: {exc}"
        raise ConfigError(f"--glm-changed-since {ref}: {why}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        raise ConfigError(f"--glm-changed-since {ref}: {fail or f'git {args[0]}: {first}'}")
    return done.stdout


def suite_dependencies(suite: Path, *, root: Path, evals_dir: Path) -> dict[str, str]:
    """Every file ``suite`` depends on (posix, relative to ``root``) -> how it is reached.

    A missing file is still listed: creating it is a change. A template that includes a
    name computed at render time makes every file under ``evals_dir`` count; the entry
    ``"<evals>/"`` (trailing slash) then stands for files deleted from it as well.
    Relative ``suite`` and ``evals_dir`` paths are taken relative to ``root``.
    """
    return _dependencies(suite, root=root, evals_dir=evals_dir)[0]


def _dependencies(
    suite: Path, *, root: Path, evals_dir: Path
) -> tuple[dict[str, str], Problem | None]:
    """``suite_dependencies``, and the first problem that kept the suite from being read
    (read with collection's own bounded loader: size and node limits, no alias bombs)."""
    root = root.resolve()
    evals_dir = (root / evals_dir).resolve()
    walker = _Walker(root, evals_dir)
    key = _suite_key(suite, root)
    walker.deps[key] = SUITE
    located = read_yaml(root / suite, key)
    data = located.data
    if located.problems and data is None:
        return walker.deps, located.problems[0]
    if not isinstance(data, dict):
        return walker.deps, None  # collection reports what is wrong with the file
    walker.owner(data, SUITE)  # the harness's own files (package, suite schema) never count
    prompts = data.get("prompts")
    for k, variant in enumerate(prompts if isinstance(prompts, list) else []):
        if isinstance(variant, dict):
            name = variant.get("id")
            walker.owner(variant, f"prompt {name}" if isinstance(name, str) else f"prompts[{k}]")
    cases = data.get("cases")
    for i, case in enumerate(cases if isinstance(cases, list) else []):
        if isinstance(case, dict):
            case_id = case.get("id")
            walker.owner(case, f"case {case_id}" if isinstance(case_id, str) else f"cases[{i}]")
    dataset = data.get("dataset")
    if isinstance(dataset, str):
        walker.file(dataset, "dataset of the suite")
        for row in read_dataset(evals_dir, dataset).rows:  # bounded; outside evals/: none
            if row.is_case:  # a row with its own template or schemas
                walker.owner(row.values, f"row {row.number} of {dataset}")
    return walker.deps, None


class _Walker:
    def __init__(self, root: Path, evals_dir: Path) -> None:
        self.root = root
        self.evals_dir = evals_dir
        self.evals_rel = _rel(evals_dir, root)
        self.deps: dict[str, str] = {}
        self.env = ImmutableSandboxedEnvironment()  # the harness's syntax; parse only

    def owner(self, spec: dict[str, Any], owner: str) -> None:
        """The files named by a suite's or a case's own keys."""
        for key, what in (("template", "template"), ("system_template", "system template")):
            self.template(spec.get(key), f"{what} of {owner}")
        for key, what in (("prompt", "the prompt"), ("system", "the system message")):
            self.inline(spec.get(key), f"{what} of {owner}")
        messages = spec.get("messages")
        for j, message in enumerate(messages if isinstance(messages, list) else []):
            if isinstance(message, dict):
                self.template(message.get("template"), f"template of messages[{j}] of {owner}")
                self.inline(message.get("content"), f"messages[{j}].content of {owner}")
        self.schema(spec.get("structured_output"), f"structured output schema of {owner}")
        if isinstance(spec.get("tools"), str):
            self.file(spec["tools"], f"tools of {owner}")
        for name in _schemas(spec.get("expect")):
            if "{{" in name or "{%" in name:  # rendered per case: any schema may be read
                self.everything(f"schema named by a template in a check of {owner}")
            else:
                self.schema(name, f"schema of a json_schema check of {owner}")

    def file(self, name: object, how: str) -> tuple[str, Path] | None:
        """Record ``name`` (under evals/); return its key and path when there is a file to read."""
        if not isinstance(name, str) or not name or posixpath.isabs(name) or "\\" in name:
            return None
        target = (self.evals_dir / name).resolve()
        if self.evals_dir not in target.parents:
            return None  # outside evals/: the collection step refuses it
        key = posixpath.normpath(f"{self.evals_rel}/{name}")
        if key in self.deps:
            return None  # already reached: first reason wins, cycles end here
        self.deps[key] = how
        return (key, target) if target.is_file() else None

    def template(self, name: object, how: str) -> None:
        found = self.file(name, how)
        if found is not None:
            key, path = found
            try:
                source = read_evals_file(path, "template")
            except TemplateError:
                return  # too big or unreadable: the collection step reports it
            self.refs(source, key, how)

    def schema(self, name: object, how: str) -> None:
        """A schema file and, transitively, the files its ``$ref`` s name (relative to the
        file that holds them, as collection resolves them)."""
        found = self.file(name, how)
        if found is None or not isinstance(name, str):
            return
        key, path = found
        try:
            document = json.loads(read_evals_file(path, "schema"))
        except (TemplateError, ValueError, RecursionError):
            return  # the collection step reports it
        folder = posixpath.dirname(name)
        for ref in _file_refs(document):
            self.schema(posixpath.normpath(posixpath.join(folder, ref)), f"$ref in {key}, {how}")

    def inline(self, source: object, label: str) -> None:
        if isinstance(source, str) and "{%" in source:
            self.refs(source, label, "")

    def refs(self, source: str, label: str, how: str) -> None:
        """Follow the templates ``source`` (known as ``label``) refers to."""
        try:
            ast = self.env.parse(source)
        except jinja2.TemplateSyntaxError:
            return  # the collection step reports it
        for node in ast.find_all(tuple(_VERBS)):
            reached = f"{_VERBS[type(node)]} {label}" + (f", {how}" if how else "")
            names = _names(getattr(node, "template", None))
            if names is None:
                self.everything(f"dynamic include in {label}: every template counts")
            for name in names or []:
                self.template(name, reached)

    def everything(self, how: str) -> None:
        self.deps.setdefault(f"{self.evals_rel}/", how)
        for path in sorted(self.evals_dir.rglob("*")):
            if path.is_file() and self.evals_dir in path.resolve().parents:
                self.deps.setdefault(_rel(path, self.root), how)


def _names(expr: nodes.Node | None) -> list[str] | None:
    """The constant template names ``expr`` can evaluate to; None when computed."""
    if expr is None:
        return []
    if isinstance(expr, nodes.Const):
        value = expr.value
        if isinstance(value, str):
            return [value]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return list(value)
        return None
    if isinstance(expr, nodes.List | nodes.Tuple):
        parts = [_names(item) for item in expr.items]
    elif isinstance(expr, nodes.CondExpr):
        parts = [_names(expr.expr1), _names(expr.expr2)]
    else:
        return None
    return None if any(p is None for p in parts) else [n for p in parts for n in p or []]


def _schemas(checks: object) -> Iterator[str]:
    """Schema files of every ``json_schema`` and ``is_json`` check in ``checks``, at any
    depth."""
    if isinstance(checks, list):
        for item in checks:
            yield from _schemas(item)
    elif isinstance(checks, dict):
        for key, value in checks.items():
            if key not in ("json_schema", "is_json"):
                yield from _schemas(value)
            elif isinstance(value, str):
                yield value
            elif isinstance(value, dict) and isinstance(value.get("schema"), str):
                yield value["schema"]


def _file_refs(document: object, limit: int = 10_000) -> list[str]:
    """The file parts of the ``$ref`` s in a schema document (``other.json#/x`` ->
    ``other.json``); URLs and same-document refs are left out. Walked without recursion,
    at most ``limit`` nodes."""
    found: list[str] = []
    stack = [document]
    seen = 0
    while stack and seen < limit:
        node = stack.pop()
        seen += 1
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                target = ref.partition("#")[0]
                if target and ":" not in target and not target.startswith("/"):
                    found.append(target)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _suite_key(suite: Path, root: Path) -> str:
    # the parent is resolved, not the file: git tracks a symlinked suite under its own name
    full = root.resolve() / suite
    return _rel(full.parent.resolve() / full.name, root.resolve())


def select(suites: Sequence[Path], *, root: Path, evals_dir: Path, ref: str) -> Selection:
    """Split ``suites`` into those with a dependency changed since ``ref`` and the rest."""
    changed = changed_files(root, ref)
    changed_set = set(changed)
    selected: dict[Path, list[str]] = {}
    skipped: list[Path] = []
    for suite in suites:
        reasons: dict[str, str] = {}
        deps, unreadable = _dependencies(suite, root=root, evals_dir=evals_dir)
        if unreadable is not None:
            # What it depends on is unknown: it runs, and collection fails on the problem.
            # Skipping it would let a broken suite pass the gate unseen.
            selected[suite] = [f"cannot be read ({unreadable.message}): selected"]
            continue
        for dep, how in deps.items():
            prefix = dep.removeprefix("./")  # "./" when evals_dir is root itself
            hits = [p for p in changed if p.startswith(prefix)] if dep.endswith("/") else [dep]
            for path in hits:
                if path in changed_set and path not in reasons:
                    reasons[path] = f"{path} changed" + ("" if how == SUITE else f" ({how})")
        if reasons:
            selected[suite] = list(reasons.values())
        else:
            skipped.append(suite)
    return Selection(selected=selected, skipped=skipped, changed=changed)


def describe(selection: Selection, ref: str, root: Path) -> list[str]:
    """Terminal lines saying which suites run and why."""
    total = len(selection.selected) + len(selection.skipped)

    lines = [
        f"glm-harness --glm-changed-since {ref}: {len(selection.selected)} of {total} "
        f"suites selected"
    ]
    for suite, reasons in selection.selected.items():
        lines.append(f"  {_suite_key(suite, root)}: {'; '.join(reasons)}")
    if selection.skipped:
        lines.append(f"  not selected: {', '.join(_suite_key(s, root) for s in selection.skipped)}")
    return lines
