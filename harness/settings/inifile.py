"""The ``glm_*`` keys of the project's pytest configuration, for commands outside pytest.

``glm-harness doctor`` must reach the endpoint a run reaches, with the same headers (an
Azure deployment header, say), so it reads the file pytest would: walking up from the
current folder, the first of ``pytest.ini`` / ``.pytest.ini`` (always), ``pyproject.toml``
with ``[tool.pytest.ini_options]``, ``tox.ini`` with ``[pytest]``, ``setup.cfg`` with
``[tool:pytest]``. Only string and list values of ``glm_*`` keys are returned.
"""

from __future__ import annotations

import configparser
import tomllib
from pathlib import Path

from harness.errors import ConfigError

Values = dict[str, str | list[str]]
_SECTIONS = {"pytest.ini": "pytest", ".pytest.ini": "pytest", "tox.ini": "pytest"}
_SECTIONS["setup.cfg"] = "tool:pytest"


def _from_cfg(path: Path, section: str) -> Values | None:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    if not parser.has_section(section):
        return None
    return {k: v for k, v in parser.items(section) if k.startswith("glm_")}


def _from_toml(path: Path) -> Values | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    options = data.get("tool", {}).get("pytest", {}).get("ini_options")
    if not isinstance(options, dict):
        return None
    found: Values = {}
    for key, value in options.items():
        if key.startswith("glm_") and isinstance(value, str | list):
            found[key] = value if isinstance(value, str) else [str(v) for v in value]
    return found


def read_ini(start: Path) -> tuple[Path | None, Values]:
    """The pytest configuration file pytest would use from ``start``, and its glm_ keys."""
    for folder in (start.resolve(), *start.resolve().parents):
        for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
            path = folder / name
            if not path.is_file():
                continue
            found = (
                _from_toml(path) if name == "pyproject.toml" else _from_cfg(path, _SECTIONS[name])
            )
            if found is not None or name in ("pytest.ini", ".pytest.ini"):
                return path, found or {}
    return None, {}


def lines(value: str | list[str] | None) -> list[str]:
    """A ``linelist`` ini value as pytest reads it: a TOML list, or one item a line."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [line.strip() for line in value.splitlines() if line.strip()]


def text(value: str | list[str] | None) -> str | None:
    return value if isinstance(value, str) else None
