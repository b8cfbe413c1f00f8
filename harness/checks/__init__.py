"""Checks: the registry (name -> factory(**params) -> check(answer) -> result), the check
families, and grading.

- ``registry``: every check by name, the shorthand forms, and ``build_check``;
- ``signatures``: what each factory declares (its keywords and their types);
- ``templated``: check parameters rendered with a case's vars (``equals: "{{ label }}"``);
- ``base``: what the families share (the check context, pointers, short values);
- ``text``, ``similarity``, ``data``, ``run``, ``user``, ``judge``: the families (strings
  and regexes; edit distance and token F1; JSON, numbers and schemas; finish, latency and
  tokens; a project's own ``python`` functions; a model as judge);
- ``regexes`` (RE2, linear time), ``schemas`` (``$ref`` s resolved under ``evals/`` only),
  ``jsontext`` (JSON found in prose, bounded): what the families run on hostile answers;
- ``tools``: the tool call checks (``tool_call``, ``tool_calls``, ``no_tool_call``,
  ``tool_call_count``), each call checked against the tools offered;
- ``grading``: one completion -> a graded sample; samples -> the verdict of an item.

May import: the ground floor only. (A judge's requests are sent by ``plugin.judging``.)
"""
