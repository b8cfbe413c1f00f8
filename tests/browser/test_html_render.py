"""The HTML report in a real headless Chromium: its charts are drawn, not just written.

Needs chromium-headless-shell or chromium (``scripts/install-browser``, which ``make test``
runs; ``GLM_CHROMIUM`` picks a binary). Without one these tests skip, except in CI
(``CI=true``), where they fail. Chromium runs without network (see harness/reports/browser.py).
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from harness.reports import browser
from harness.reports import html as html_report
from harness.reports import svg as svg_charts

HOSTILE = "<script>alert(1)</script>"


def record(suite: str, case: str, api: str, effort: str, sample: int, passed: bool) -> dict[str, object]:  # fmt: skip
    scale = 1 if effort == "low" else 4
    return {
        "suite": suite, "case": case, "api": api, "effort": effort, "sample": sample,
        "request": {"path": f"/v1/{api}", "body": {"effort": effort}}, "answer": HOSTILE,
        "reasoning": "r" * 800 * scale, "usage": {"output_tokens": 250 * scale,
        "reasoning_tokens": 0 if api == "chat" else 200 * scale},
        "latency_ms": 300.0 * scale + 37 * sample, "finish": "stop", "error": None,
        "cached": False, "attempts": 1, "checks": [], "score": float(passed),
        "outcome": "pass" if passed else "fail",
    }  # fmt: skip


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, html_report.Page]:
    """A run of two suites (one named like an injection) x 2 APIs x 2 efforts x 3 cases x
    2 samples: 48 samples, 24 a suite, 4 charts."""
    folder = tmp_path_factory.mktemp("run")
    lines = [
        record(
            suite, f"c{c}", api, effort, sample, passed=(c + sample) % 3 != 0 or effort == "high"
        )
        for suite in ("math", HOSTILE)
        for api in ("chat", "responses")
        for effort in ("low", "high")
        for c in range(3)
        for sample in range(2)
    ]
    (folder / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    built = html_report.build_page(str(folder))
    out = folder / "report.html"
    out.write_text(built.text, encoding="utf-8")
    return out, built


def test_the_dom_after_load_holds_every_chart_and_point(
    chromium: str, page: tuple[Path, html_report.Page]
) -> None:
    path, built = page
    dom = browser.dump_dom(chromium, path)
    assert "<script" not in dom  # the hostile suite name stayed text
    charts = browser.charts_in(dom)
    assert built.charts == 4
    kinds = [" ".join(c.classes) for c in charts]
    assert kinds == ["chart pass-vs-reasoning", "chart latency"] * 2
    for chart in charts:
        assert chart.role == "img"
        assert chart.elements["title"] >= 1
        assert chart.elements["desc"] == 1
        assert chart.elements[".axis-label"] == 2
    for scatter in charts[0::2]:
        assert scatter.elements[".point"] == 4  # 2 APIs x 2 efforts: a circle and a square each
        assert scatter.elements[".error-bar"] == 4
        assert scatter.elements[".point-label"] == 4
        assert scatter.elements["circle"] == 3  # chat's points and its legend marker
        assert scatter.elements["rect"] == 3  # responses' points and its legend marker
    for latency in charts[1::2]:
        assert latency.elements[".box"] == 4
        assert latency.elements[".sample"] == 24  # every sample of the suite as a dot
        assert latency.elements["circle"] == 24 + 1


def test_a_screenshot_shows_the_series_colours(
    chromium: str, page: tuple[Path, html_report.Page], tmp_path: Path
) -> None:
    path, built = page
    png = browser.screenshot(chromium, path, tmp_path / "page.png")
    width, bpp, rows = browser.png_rows(png)
    assert (width, len(rows)) == browser.WINDOW
    colours = [style.colour for style in svg_charts.styles(built.apis).values()]
    counts = browser.pixel_counts(rows, bpp, [*colours, "#ffffff"])
    for colour in colours:  # markers, error bars, boxes and dots of both APIs are painted
        assert counts[colour] > 200, (colour, counts)
    assert counts["#ffffff"] > 0.5 * width * len(rows)  # the page's background is white


def test_check_html_report_says_the_charts_show(
    chromium: str, page: tuple[Path, html_report.Page], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = page
    assert browser.main([str(path.parent)]) == 0
    out = capsys.readouterr().out
    assert "pass-vs-reasoning: 4 points" in out
    assert "latency: 4 boxes, 24 samples" in out
    assert out.endswith("the charts show\n")


def png(width: int, rows: list[bytes], filters: list[int]) -> bytes:
    """An RGB PNG whose rows are stored with the given filter types."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))  # fmt: skip

    raw, prev = b"", bytes(width * 3)
    for row, kind in zip(rows, filters, strict=True):
        out = bytearray()
        for i, value in enumerate(row):
            a = row[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            p = a + b - c
            paeth = min((abs(p - a), 0, a), (abs(p - b), 1, b), (abs(p - c), 2, c))[2]
            guess = [0, a, b, (a + b) // 2, paeth][kind]
            out.append((value - guess) & 0xFF)
        raw += bytes([kind]) + bytes(out)
        prev = row
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")  # fmt: skip


def test_png_rows_undo_every_filter() -> None:
    """No browser needed: the decoder the screenshot test relies on."""
    width = 7
    rows = [bytes((x * 37 + y * 91 + (x * y) ** 2) % 256 for x in range(width * 3)) for y in range(10)]  # fmt: skip
    data = png(width, rows, [0, 1, 2, 3, 4, 4, 3, 2, 1, 0])
    assert browser.png_rows(data) == (width, 3, rows)
    blue = bytes.fromhex("1f77b4")
    _, bpp, two = browser.png_rows(png(3, [blue * 2 + b"\x1f\x77\xb5", b"\xff" * 9], [1, 4]))
    assert browser.pixel_counts(two, bpp, ["#1f77b4", "#ffffff"]) == {"#1f77b4": 2, "#ffffff": 3}


def test_no_browser_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GLM_CHROMIUM", str(tmp_path / "no-such-browser"))
    assert browser.find_browser() is None
    assert browser.main([str(tmp_path)]) == 3
    assert "run scripts/install-browser" in capsys.readouterr().err
