"""The page's one inline style sheet: tables, charts, the case matrix and its filters.

The filters are checkboxes read by sibling selectors: a checked box hides the rows (and the
columns, and the cells) it filters out, and a CSS counter says how many cases are shown.
Long texts wrap anywhere and tall ones scroll in their box, so no text leaves it.
"""

from __future__ import annotations

PAGE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;background:#fff}
table{border-collapse:collapse;margin:8px 0 16px}
th,td{border:1px solid #ccc;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f3f3f3}td.text,th.text{text-align:left}.summary td{white-space:nowrap}
.est{color:#8a5a00;font-size:85%}.charts{display:flex;flex-wrap:wrap;gap:16px}
.no-effect{background:#fff4d6}.effect{background:#e6f4ea}
svg.chart{border:1px solid #ddd;background:#fff;font-size:11px;display:block}
.chart-box{max-width:100%;overflow-x:auto}
.grid{stroke:#e5e5e5}.axis,.tick-mark{stroke:#444;fill:none}.tick{fill:#444}
.error-bar,.whisker,.median,.p95{fill:none;stroke-width:1.5}.median{stroke-width:3}
.p95{stroke-dasharray:3 2}.iqr{fill:#f7f7f7}.point{stroke:#fff}
.point-label{fill:#222;paint-order:stroke;stroke:#fff;stroke-width:3px;stroke-linejoin:round}
.axis-note{fill:#8a5a00}
"""
MATRIX = """
.filters{position:sticky;top:0;z-index:3;background:#fff;padding:6px 0;margin:8px 0;
border-bottom:1px solid #ccc}.filters label{margin-left:14px;white-space:nowrap}
.note{color:#8a5a00}.scroll{overflow-x:auto;max-width:100%}
table.matrix{border-collapse:separate;border-spacing:0}
table.matrix th,table.matrix td{text-align:left;padding:3px 6px}
th.case{position:sticky;left:0;z-index:1;background:#f3f3f3;min-width:6em;max-width:18em;
overflow-wrap:anywhere;font:12px/1.4 ui-monospace,monospace}
td.case-none,td.none{color:#888;background:#fafafa}
th.col span{display:block;overflow-wrap:anywhere;max-width:12em}
th.col .flips{color:#555;font-weight:normal}
td.o-pass{background:#e3f3e6}td.o-fail{background:#fbdcd8}
td.o-truncated{background:#fdeec0}td.o-error{background:#e9e3f3}
td.flip{outline:2px dashed #222;outline-offset:-4px}
.mark{font-style:normal;font-weight:bold}td.regressed .mark,th .mark{color:#9c0d0d}
.m-improved{color:#17602a}.m-known-failure{font-weight:normal;color:#555}
summary{cursor:pointer;min-width:7em}summary b,summary .mark{white-space:nowrap}
td.flip summary{padding-right:4px}
.panel{width:38em;max-width:80vw;white-space:normal;background:#fff;border:1px solid #aaa;
padding:6px 8px;margin:4px 0;font-size:13px}
.panel pre{white-space:pre-wrap;overflow-wrap:anywhere;max-height:18em;overflow:auto;
background:#f6f6f6;margin:2px 0 6px;padding:4px;font-size:12px}
.panel p{margin:3px 0;overflow-wrap:anywhere}
.panel pre.fold{max-height:4.3em;overflow:auto;cursor:pointer}
.panel pre.fold:focus{max-height:none;cursor:text;outline:1px solid #1f77b4}
.panel pre[data-label]::before{content:attr(data-label);display:block;margin:0 0 2px;
font:bold 12px/1.4 system-ui,sans-serif;color:#222}
.why{color:#9c0d0d;font-weight:bold}
.panel .checks{color:#17602a}.check-fail{color:#9c0d0d;font-weight:bold}
.versus{display:flex;gap:8px}.versus>pre{flex:1;min-width:0}
.sample{border-top:1px solid #ddd;margin-top:6px;padding-top:4px}
.matrix-suite{counter-reset:shown}tr.case{counter-increment:shown}
.shown::before{content:counter(shown) " of "}
.matrices{position:relative}.toggle{position:absolute;opacity:0;width:1px;height:1px}
.filters label{cursor:pointer}.filters label::before{content:"\\2610  "}
#only-failing:checked~.filters [for=only-failing]::before,
#only-regressions:checked~.filters [for=only-regressions]::before,
#only-differing:checked~.filters [for=only-differing]::before{content:"\\2611  "}
#only-failing:focus-visible~.filters [for=only-failing],
#only-regressions:focus-visible~.filters [for=only-regressions],
#only-differing:focus-visible~.filters [for=only-differing]{outline:2px solid #1f77b4}
#only-failing:checked~.matrix-suite tr.case:not(.fails),
#only-regressions:checked~.matrix-suite tr.case:not(.regress),
#only-differing:checked~.matrix-suite tr.case:not(.differs),
#only-failing:checked~.matrix-suite .nf,
#only-regressions:checked~.matrix-suite .nr{display:none}
#only-failing:checked~.matrix-suite td.o-pass>details,
#only-regressions:checked~.matrix-suite td:not(.regressed)>details{visibility:hidden}
#only-failing:checked~.matrix-suite td.o-pass,
#only-regressions:checked~.matrix-suite td:not(.regressed){background:#fafafa;outline:none}
"""
