"""``glm-harness doctor``: is an endpoint ready for a run?

- ``command``: the subcommand, its steps in order and its exit code;
- ``probes``: the GET probes (reach, auth and model, ``/openapi.json``), on the engine's
  client;
- ``pinned``: the request fields of vLLM 0.33.0 (``vllm-0.33.0-requests.json``, written by
  ``scripts/pin-openapi``) and how a live ``/openapi.json`` differs from them;
- ``openapi``: which fields the harness sends the server's OpenAPI document declares;
- ``tools``: whether the endpoint takes a request offering a tool (``tool_choice: auto``);
- ``report``: the one-screen verdict, as text or JSON, scrubbed of the token.

May import: the ground floor, ``settings``, ``engine`` and ``local``.
"""
