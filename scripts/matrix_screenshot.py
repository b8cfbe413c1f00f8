"""Make docs/matrix.png, the README's picture of the case matrix, from a real run.

The example suites (suites/, evals/) are copied into a throwaway project and run twice
through the plugin against the scripted server of tests/server/app.py, on 127.0.0.1: first
with right answers and ``--glm-update-baselines``, then with a few wrong ones (the careful
prompt calls the parking review positive; Responses gets 15% of 80 wrong; a summary runs
out of tokens). The second run's page (``glm-harness report``) is opened in headless
Chromium (no network), a failed cell of the sentiment suite is opened, and the matrix of
that suite is photographed under the filters' bar.

    .venv/bin/python scripts/matrix_screenshot.py [--out docs/matrix.png] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.reports.browser import find_browser  # noqa: E402
from harness.reports.devtools import Session  # noqa: E402
from tests.plugin.test_examples import RIGHT_ANSWERS  # noqa: E402
from tests.server.app import Rule, ScriptedServer  # noqa: E402

THOUGHT = "Let me read it again and weigh each clause before I answer. "
PARKING = r"restaurant chain[\s\S]*Parking was easy"  # the careful prompt's system line
WRONG = [
    Rule(match=PARKING, answer="Positive.", reasoning=THOUGHT * 3),
    Rule(match="15% of 80", api="responses", answer="15% of 80 is 15.\nAnswer: 15"),
    Rule(match="tides", api="chat", answer="Tides are", finish="length", reasoning=THOUGHT * 9),
]


def thinking(rules: list[Rule]) -> list[Rule]:
    """The rules with some reasoning, so that the charts have something to show."""
    return [r if r.reasoning else Rule(**{**r.__dict__, "reasoning": THOUGHT * 2}) for r in rules]


def run(project: Path, url: str, *args: str) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GLM_")}
    command = [sys.executable, "-m", "pytest", "--glm-suite", f"--glm-base-url={url}"]
    command += ["-p", "no:cacheprovider", "--glm-cache=off", "-q", *args]
    subprocess.run(command, cwd=project, env=env, stdout=subprocess.DEVNULL, check=False)
    return sorted((project / "results" / "runs").iterdir())[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "matrix.png")
    parser.add_argument("--keep", type=Path, default=None, help="keep the project here")
    args = parser.parse_args()
    binary = find_browser()
    if binary is None:
        sys.stderr.write("matrix_screenshot: no Chromium found; run scripts/install-browser\n")
        return 3
    project = args.keep or Path(tempfile.mkdtemp(prefix="glm-screenshot-"))
    try:
        for folder in ("suites", "evals"):
            shutil.copytree(ROOT / folder, project / folder, dirs_exist_ok=True)
        with ScriptedServer(thinking(RIGHT_ANSWERS)) as server:
            run(project, server.url, "--glm-update-baselines")
            server.rules = thinking([*WRONG, *RIGHT_ANSWERS])
            run_dir = run(project, server.url)
        page = project / "report.html"
        from harness.cli import main as cli

        if cli(["report", str(run_dir), "--html", str(page)]) != 0:
            return 2
        with Session(binary, window=(1100, 900)) as tab:
            tab.open(page)
            box = tab.evaluate(
                """(() => {
                  const suite = [...document.querySelectorAll('section.matrix-suite')]
                    .find(s => s.querySelector('h3').textContent === 'Suite sentiment');
                  suite.querySelector('td.o-fail summary').click();
                  const bar = document.querySelector('.filters').getBoundingClientRect();
                  scrollTo(0, suite.getBoundingClientRect().top + scrollY - bar.height - 8);
                  const r = suite.getBoundingClientRect();
                  return {x: r.left + scrollX - 8, y: scrollY,
                          width: Math.min(r.width + 16, 1084), height: r.bottom + 8};
                })()"""
            )
            tab.screenshot(args.out, clip=box)
        sys.stdout.write(f"wrote {args.out} ({args.out.stat().st_size:,} bytes) from {run_dir}\n")
    finally:
        if args.keep is None:
            shutil.rmtree(project, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
