"""HTTP/1.1 on the wire: the client's own keep-alive transport, over asyncio.

Why it exists: ``httpx.AsyncHTTPTransport`` (httpcore, anyio, h11) cost about 1.15 ms of
CPU per request in ``benchmarks/throughput.py``, a third of the harness's CPU: the pool
scans every connection (a ``getpeername`` each) on every request, anyio asks which event
loop runs on every operation, and h11 builds an event per piece of the message. The
harness sends one kind of request (a small POST or GET with a ``Content-Length``) to one
or two servers, so :class:`WireTransport` does only that, with one
:class:`asyncio.Protocol` per connection.

It is an ``httpx.AsyncBaseTransport``: requests and responses are httpx's, the body
streams out raw (still compressed, as it came: :mod:`harness.engine.bodies` caps and
decodes it) in pieces as they arrive, and every failure is an httpx exception
(``ConnectError``, ``ConnectTimeout``, ``PoolTimeout``, ``ReadError``, ``ReadTimeout``,
``WriteError``, ``RemoteProtocolError``), so callers read it as they read httpx.

Every byte from the server is hostile; :mod:`~harness.engine.wire.http1` bounds what it
parses. ``connection``: one socket's protocol and the pool; ``transport``: the transport.

The pool: per (scheme, host, port) at most ``max_connections`` connections; a request that
finds them all busy waits in a FIFO queue. A connection is reused only when its last
response was read whole, said nothing against keep-alive and left no stray byte; one the
server closed while idle is known by its protocol's flags (no system call per request).
A request on a reused connection that the server closed cleanly (a FIN) before any byte
of the response arrived, its keep-alive timeout racing our write, is sent once more on a
fresh connection. httpcore goes only half as far (it takes another connection when a
pooled one proves unusable before the request is written); the harness's POST bodies are
idempotent by design (a completion request changes nothing on the server the harness
relies on), so sending one twice is safe. A reset, or a failure after any byte of the
answer, is never resent here: the engine's retries decide, and count it.

Timeouts come from the request's ``timeout`` extension (httpx's), each a bound on one
step: connecting, waiting for a pooled connection, each wait for the server's bytes,
each wait for the socket to take ours. The harness's client sets none: its deadline
around the whole attempt bounds every step. A cancelled request closes its connection;
nothing is left to a background task.
"""

from harness.engine.wire.transport import WireTransport

__all__ = ["WireTransport"]
