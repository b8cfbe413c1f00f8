from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A user project: suites/ and evals/ with one template, no endpoint in the environment."""
    for name in ("GLM_BASE_URL", "GLM_API_KEY", "GLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    (pytester.path / "suites").mkdir()
    (pytester.path / "evals" / "math").mkdir(parents=True)
    (pytester.path / "evals" / "math" / "q.j2").write_text(
        "Question: {{ q }}\nEnd with 'Answer: N'."
    )
    return pytester


def write(project: pytest.Pytester, rel: str, text: str) -> Path:
    path = project.path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path
