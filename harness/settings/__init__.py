"""Run settings: options, environment and the pytest ini file, resolved once.

- ``values``: the ``Settings`` a run uses (endpoint, model, the token as a
  :class:`~harness.secret.Secret`, timeouts, caps, matrix overrides), their defaults in one
  place, and the parsers of option values;
- ``inifile``: the ``glm_*`` keys of the pytest ini file a run would read, found as pytest
  finds it (for commands that run outside pytest, such as ``doctor``).

May import: the ground floor only (``errors``, ``models``, ``secret``).
"""
