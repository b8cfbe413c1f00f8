"""Suites: YAML with line marks -> a validated :class:`~harness.models.Suite`.

- ``source``: the one bounded reader of suite files (size, node and alias limits, regular
  files only), YAML with the line mark of every value;
- ``loader``: cases built from the validated document (and its dataset's rows), every
  mistake as ``file:line: key: message``; ``parts`` (checks rendered with a case's vars,
  ``extract``, structured output) and ``prompts`` (a case's messages for each prompt
  variant) build the pieces of a case; ``sites`` say where each piece was written;
- ``tools``: ``tools:`` (inline or a file under ``evals/``) checked, and ``tool_choice``;
- ``datasets``: ``dataset:`` files (CSV, JSONL, JSON, YAML) -> rows with their lines, bounded;
- ``sampling``: ``--glm-sample``'s seeded, stable choice of cases;
- ``problems``: the suite JSON Schema (``schema/suite.schema.json``), validation against
  it, and its errors turned into those lines;
- ``templates`` and ``sandbox``: Jinja2 under ``evals/`` only, sandboxed and bounded in time,
  loops, numbers and size.

May import: the ground floor and ``checks`` (the loader builds each case's checks).
"""
