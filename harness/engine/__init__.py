"""The request engine: a request goes out, a completion comes back.

- ``requests``: the request body per API and effort (pure);
- ``client``: one HTTP attempt with httpx, within a deadline and a reply size cap, the
  token scrubbed from every reply; ``bodies``: reading reply bodies within that cap;
- ``wire``: the client's own HTTP/1.1 keep-alive transport (an httpx transport over
  asyncio), every byte from the server parsed within bounds;
- ``parse`` and ``streaming``: vLLM's replies of both APIs (whole, or server-sent events)
  -> one :class:`~harness.models.Completion` (pure); ``toolcalls``: the model's function
  calls in them, joined and bounded (pure);
- ``retry``: when to retry and how long to wait; ``limiter``: adaptive concurrency;
  ``cache``: the answer cache; ``workers``: the grading threads;
- ``runner``: the :class:`Engine`, one asyncio loop in a thread that schedules every
  request, retries it, caches it and hands it to its callback;
- ``fingerprint``: the server's identity (``/version``, ``/v1/models``, a hash of
  ``/openapi.json``) and how it changed; ``canary``: the probes that check, before a
  gating run, that the endpoint still behaves as the suites assume.

May import: the ground floor and ``settings``.
"""
