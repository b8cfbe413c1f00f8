"""The gate: what a run's results mean against what was known.

- ``baseline``: baseline files (read bounded, updated under a lock, all at once) and each
  item's change against its entry;
- ``stats``: Wilson, Newcombe, exact McNemar, sign-flip and bootstrap, three-state decisions;
- ``compare``: runs or groups of a run (efforts, APIs, prompt variants) compared with those
  statistics; ``runs``: run records read back for it, by item; ``budgets``: what each
  thinking budget buys (the budget needed for 90% of cases);
- ``changes``: which suites a git change touches (``--glm-changed-since``);
- ``records``: the run records (``records.jsonl``), written whole lines or not at all, and
  the gate's verdict per item (``items.jsonl``);
- ``verdicts``: the run's verdict from its items (the paired decisions, the exit status,
  efforts with no effect, what budgets buy), for a run and for a merged one alike;
- ``shards``: a ``--glm-shard`` run's folder read back and checked; ``merge``: shards'
  runs checked to be the parts of one run and put together (``glm-harness merge``).

May import: the ground floor, ``checks`` and ``suites``.
"""
