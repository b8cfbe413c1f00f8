"""The local llama.cpp model server (``--glm-local``, ``glm-harness local``).

- ``server``: finding the binary and the GGUF, starting ``llama-server`` on a free port,
  waiting for health, stopping it with the run (or when pytest dies);
- ``modelid``: the served model file's SHA-256, memoised, so caches and baselines know
  which model answered.

May import: the ground floor only (``errors``, ``fileio``).
"""
