"""Suites: YAML with line marks -> a validated :class:`~harness.models.Suite`.

- ``source``: the one bounded reader of suite files (size, node and alias limits, regular
  files only), YAML with the line mark of every value;
- ``loader``: cases built from the validated document, checks bound to their cases, every
  mistake as ``file:line: key: message``;
- ``problems``: the suite JSON Schema (``schema/suite.schema.json``), validation against
  it, and its errors turned into those lines;
- ``templates`` and ``sandbox``: Jinja2 under ``evals/`` only, sandboxed and bounded in time,
  loops, numbers and size.

May import: the ground floor and ``checks`` (the loader builds each case's checks).
"""
