"""glm-harness: prompt-regression and evaluation harness for GLM-4.7-Flash, as a pytest plugin.

A case travels: a YAML line -> ``suites`` (loaded, validated, rendered) -> ``plugin`` (a
pytest item) -> ``engine`` (a request out, a completion back) -> ``checks`` (graded) ->
``gate`` (against the baseline, with statistics) -> ``reports`` (terminal, Markdown, HTML).
docs/architecture.md follows one case through them and lists the import rules.

The ground floor, imported by every layer and importing none of them: ``errors`` (the
exception tree), ``models`` (frozen data objects), ``fileio`` (atomic writes, locks) and
``secret`` (the token's holder and scrub). Above it: ``settings``; then ``local``,
``engine`` and ``checks``; ``suites`` (uses ``checks``); ``gate``; ``reports``; ``doctor``;
and at the top ``plugin`` and ``cli``.
"""

from __future__ import annotations

__version__ = "0.1.0"
