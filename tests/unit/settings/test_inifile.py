"""The pytest ini file, read as pytest would pick it, for commands outside pytest."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.settings.inifile import lines, read_ini


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("pytest.ini", "[pytest]\nglm_base_url = http://a\nglm_headers =\n  X-A: 1\n  X-B: 2\n"),
        ("tox.ini", "[pytest]\nglm_base_url = http://a\nglm_headers =\n  X-A: 1\n  X-B: 2\n"),
        (
            "setup.cfg",
            "[tool:pytest]\nglm_base_url = http://a\nglm_headers =\n  X-A: 1\n  X-B: 2\n",
        ),
        (
            "pyproject.toml",
            '[tool.pytest.ini_options]\nglm_base_url = "http://a"\nglm_headers = ["X-A: 1", "X-B: 2"]\n',
        ),
    ],
)
def test_each_kind_of_file(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    path, found = read_ini(tmp_path)
    assert path == tmp_path / name
    assert found["glm_base_url"] == "http://a"
    assert lines(found["glm_headers"]) == ["X-A: 1", "X-B: 2"]


def test_the_first_file_with_a_pytest_section_wins_walking_up(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pytest.ini_options]\nglm_model = "up"\n')
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "setup.cfg").write_text("[metadata]\nname = x\n")  # no pytest section
    (tmp_path / "a" / "tox.ini").write_text("[tox]\n")
    assert read_ini(tmp_path / "a") == (tmp_path / "pyproject.toml", {"glm_model": "up"})
    (tmp_path / "a" / "pytest.ini").write_text("[other]\n")  # pytest.ini always wins
    assert read_ini(tmp_path / "a") == (tmp_path / "a" / "pytest.ini", {})
