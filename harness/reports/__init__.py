"""Reports, pure: results -> lines, Markdown, an HTML page with SVG charts.

- ``terminal``: failure and regression reports and the end-of-run table;
- ``endrun``: the end-of-run lines and the ``summary.json`` document; ``merged``: the
  same for the run ``glm-harness merge`` makes of shards;
- ``markdown``: the report for a pull request comment or a step summary, with ``flips``
  (the regressed and flipped cases as a compact matrix);
- ``html``: the self-contained page of a run, put together (``glm-harness report``) from
  ``groups`` (the summary table), ``charts`` (a suite's charts, drawn by ``svg`` with the
  geometry of ``layout``), ``comparisons`` (compare's verdicts on the run), ``matrix``
  (the case matrix as data), ``grid`` and ``cells`` (the matrix and its cells in HTML),
  ``markup`` (escaped tables, cut texts) and ``stylesheet`` (the page's CSS);
- ``browser``: the page opened in headless Chromium (``scripts/check-html-report``);
  ``devtools``: Chromium driven over its DevTools pipe (click, read, measure);
- ``agreement``: a judge's agreement with hand labels (``glm-harness judge-agreement``).

May import: the ground floor, ``checks`` and ``gate``.
"""
