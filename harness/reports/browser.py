"""Headless Chromium, to check that the HTML report really renders its charts.

Finds the browser (``$GLM_CHROMIUM``, else ``chromium-headless-shell`` or ``chromium`` on
PATH; ``scripts/install-browser`` installs Debian's), dumps the DOM of a local page or takes
a screenshot, reads the PNG with zlib and struct, and counts chart elements and colours.
Chromium runs with a fresh profile and its background networking, component updates and
sync off, so it never reaches for the network; the page's own CSP forbids every external
resource. ``python -m harness.reports.browser RUN`` (``scripts/check-html-report``)
writes the report of a run, renders it and says whether its charts show.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from harness.errors import BrowserError, HarnessError
from harness.fileio import write_atomic

BROWSERS = ("chromium-headless-shell", "chromium")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
TIMEOUT = 60.0  # seconds for one page; a first start of Chromium takes about one
WINDOW = (1200, 2000)
MARKS = ("circle", "rect", "path")  # the elements that draw points, boxes and bars


def find_browser() -> str | None:
    """The browser to run: ``$GLM_CHROMIUM`` (a path or a name on PATH) when set."""
    override = os.environ.get("GLM_CHROMIUM")
    if override:
        return shutil.which(override)
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def run_browser(binary: str, page: Path, extra: Sequence[str], timeout: float = TIMEOUT) -> str:
    """Chromium's stdout for ``page`` with ``extra`` flags, in a fresh profile; on timeout
    its whole process group is killed."""
    with tempfile.TemporaryDirectory(prefix="glm-chromium-") as profile:
        command = [binary, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
        try:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise BrowserError(f"cannot run {binary}: {exc}") from None
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise BrowserError(f"{binary} did not finish within {timeout:g} s") from None
    if process.returncode != 0:
        last = (err.strip().splitlines() or ["no message"])[-1]
        raise BrowserError(f"{binary} exited with status {process.returncode}: {last}")
    return out


def dump_dom(binary: str, page: Path, timeout: float = TIMEOUT) -> str:
    """The page's DOM, serialised after it loaded."""
    return run_browser(binary, page, ["--dump-dom"], timeout)


def screenshot(
    binary: str, page: Path, out: Path, window: tuple[int, int] = WINDOW, timeout: float = TIMEOUT
) -> bytes:
    """A PNG of the top ``window`` of the page."""
    size = f"--window-size={window[0]},{window[1]}"
    run_browser(binary, page, [f"--screenshot={out.resolve()}", size, "--hide-scrollbars"], timeout)
    try:
        return out.read_bytes()
    except OSError as exc:
        raise BrowserError(f"no screenshot: {exc}") from None


def _add(a: int, b: int, low: int, high: int) -> int:
    """Bytewise (a + b) mod 256 of two byte strings held as ints (no carry between bytes)."""
    return ((a & low) + (b & low)) ^ ((a ^ b) & high)


def _paeth(line: bytes, prev: bytes, bpp: int) -> bytearray:
    row = bytearray(line)
    for i in range(len(row)):
        a = row[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        row[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
    return row


def png_rows(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, bytes per pixel (3 RGB, 4 RGBA) and the pixel rows of an 8-bit, non-interlaced
    PNG, as Chromium writes them. Sub and Up rows are undone on whole rows as big ints."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise BrowserError("not a PNG file")
    pos, chunks, header = 8, [], (0, 0, 0, 0, 0, 0, 0)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body, pos = data[pos + 8 : pos + 8 + length], pos + 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        chunks += [body] if kind == b"IDAT" else []
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise BrowserError(f"unsupported PNG: depth {depth}, colour type {colour}")
    bpp = 3 if colour == 2 else 4
    stride = width * bpp
    raw = zlib.decompress(b"".join(chunks))
    low, high = int.from_bytes(b"\x7f" * stride, "big"), int.from_bytes(b"\x80" * stride, "big")
    rows, prev = [], bytes(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]
        if kind == 0:
            row = bytes(line)
        elif kind in (1, 2):  # Sub: a prefix sum per channel, in log2(width) whole-row adds
            value = int.from_bytes(line, "big")
            if kind == 2:
                value = _add(value, int.from_bytes(prev, "big"), low, high)
            shift = bpp
            while kind == 1 and shift < stride:
                value, shift = _add(value, value >> (8 * shift), low, high), shift * 2
            row = value.to_bytes(stride, "big")
        elif kind == 3:
            out = bytearray(line)
            for i in range(stride):
                out[i] = (out[i] + ((out[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 0xFF
            row = bytes(out)
        else:
            row = bytes(_paeth(line, prev, bpp))
        rows.append(row)
        prev = row
    return width, bpp, rows


def pixel_counts(rows: Sequence[bytes], bpp: int, colours: Sequence[str]) -> dict[str, int]:
    """How many pixels of ``rows`` (from :func:`png_rows`) have exactly each ``#rrggbb``."""
    image = b"".join(rows)
    counts = {}
    for colour in colours:
        match = -1  # per channel: a byte string of 1 where the channel matches, else 0
        for channel, value in enumerate(bytes.fromhex(colour.lstrip("#"))):
            table = bytes(int(i == value) for i in range(256))
            match &= int.from_bytes(image[channel::bpp].translate(table), "big")
        counts[colour] = match.bit_count()
    return counts


@dataclass
class Chart:
    """One ``<svg class="chart ...">`` of a DOM: its classes, its role, and how many elements
    it holds by tag (``circle``) and by class (``.point``)."""

    classes: list[str]
    elements: dict[str, int] = field(default_factory=dict)
    role: str | None = None


class ChartParser(HTMLParser):
    """Collects the charts of a page (``charts``) and how many of each element they hold."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[Chart] = []
        self._depth = 0  # svg elements open inside the current chart

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if not self._depth:
            if tag != "svg" or "chart" not in classes:
                return
            self.charts.append(Chart(classes, role=found.get("role")))
        self._depth += 1
        counts = self.charts[-1].elements
        for name in [tag, *(f".{c}" for c in classes)]:
            counts[name] = counts.get(name, 0) + 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._depth:
            self._depth -= 1


def charts_in(dom: str) -> list[Chart]:
    parser = ChartParser()
    parser.feed(dom)
    parser.close()
    return parser.charts


def check_page(binary: str, page: Path, series: Sequence[str]) -> tuple[bool, list[str]]:
    """Render ``page``: does every chart hold marks, and do the colours of ``series`` (the
    APIs, in the report's order) show in a screenshot? Returns (ok, lines to print)."""
    from harness.reports.svg import styles

    dom = dump_dom(binary, page)
    charts = charts_in(dom)
    lines, ok = [f"DOM: {len(charts)} charts"], bool(charts)
    for chart in charts:
        kind = " ".join(c for c in chart.classes if c != "chart")
        marks = {name: chart.elements.get(f".{name}", 0) for name in ("point", "box", "sample")}
        plural = {"point": "points", "box": "boxes", "sample": "samples"}
        shown = ", ".join(f"{n} {plural[name]}" for name, n in marks.items() if n)
        labelled = chart.role == "img" and chart.elements.get("title", 0) > 0
        ok = ok and labelled and (marks["point"] > 0 or marks["box"] > 0)
        lines.append(f"  {kind}: {shown or 'nothing drawn'}{'' if labelled else ', no title'}")
    suites, cases = dom.count('<section class="matrix-suite"'), dom.count('<tr class="case')
    lines.append(f"case matrix: {cases} cases in {suites} suites")
    with tempfile.TemporaryDirectory(prefix="glm-shot-") as folder:
        png = screenshot(binary, page, Path(folder, "page.png"))
    wanted = {name: style.colour for name, style in styles(series).items()}
    _, bpp, rows = png_rows(png)
    counts = pixel_counts(rows, bpp, list(wanted.values()))
    ok = ok and all(counts.values())
    found = ", ".join(f"{name} {colour}: {counts[colour]} px" for name, colour in wanted.items())
    lines.append(f"screenshot {WINDOW[0]}x{WINDOW[1]}: {found or 'no series'}")
    return ok, [*lines, "the charts show" if ok else "the charts do NOT show"]


def main(argv: Sequence[str] | None = None) -> int:
    """``scripts/check-html-report RUN``: 0 the charts show, 1 they do not, 2 bad run,
    3 no browser (``scripts/install-browser`` installs one)."""
    from harness.reports.html import build_page

    parser = argparse.ArgumentParser(prog="check-html-report", description=__doc__)
    parser.add_argument("run", help="run folder, its records.jsonl, or a run id")
    parser.add_argument("--html", metavar="OUT", help="keep the page here (default: a temp file)")
    parser.add_argument("--results", default="results", help="where run ids are looked up")
    args = parser.parse_args(argv)
    binary = find_browser()
    if binary is None:
        sys.stderr.write("check-html-report: no Chromium found; run scripts/install-browser\n")
        return 3
    with tempfile.TemporaryDirectory(prefix="glm-report-") as folder:
        out = Path(args.html or Path(folder, "report.html"))
        try:
            page = build_page(args.run, Path(args.results))
            write_atomic(out, page.text)
            where = out if args.html else "a temporary file"
            sys.stdout.write(f"report: {where} ({page.samples} samples, {page.charts} charts)\n")
            ok, lines = check_page(binary, out, page.apis)
        except (HarnessError, OSError, ValueError) as exc:
            sys.stderr.write(f"check-html-report: {exc}\n")
            return 2
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
