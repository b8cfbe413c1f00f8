"""Reports, pure: results -> lines, Markdown, an HTML page with SVG charts.

- ``terminal``: failure and regression reports and the end-of-run lines;
- ``markdown``: the report for a pull request comment or a step summary;
- ``html`` and ``svg``: the self-contained page of a run and its charts;
- ``browser``: the page opened in headless Chromium (``scripts/check-html-report``);
- ``agreement``: a judge's agreement with hand labels (``glm-harness judge-agreement``).

May import: the ground floor, ``checks`` and ``gate``.
"""
