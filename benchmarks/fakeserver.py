"""The benchmarks' fake OpenAI-compatible server (stdlib asyncio, HTTP/1.1 keep-alive).

It answers every POST to ``/v1/chat/completions`` or ``/v1/responses`` with "Answer: 42"
after ``latency`` seconds and counts requests and the most in flight (GET ``/stats``; it
also says when the first request since the last GET ``/mark`` came and the last reply went).
Run it in a child process: :func:`run_server` sends the port it listens on through a pipe.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any


def _reply(path: str, body: bytes) -> dict[str, Any]:
    try:
        model = json.loads(body).get("model") or "bench"
    except ValueError:
        model = "bench"
    created = int(time.time())
    if path == "/v1/chat/completions":
        message = {"role": "assistant", "content": "Answer: 42", "reasoning": "thinking"}
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }
    text = {"type": "output_text", "text": "Answer: 42", "annotations": []}
    item = {
        "id": "msg-bench",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [text],
    }
    return {
        "id": "resp-bench",
        "object": "response",
        "created_at": created,
        "model": model,
        "status": "completed",
        "output": [item],
        "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
    }


async def _serve(latency: float, conn: Any) -> None:
    stats: dict[str, Any] = {"requests": 0, "in_flight": 0, "max_in_flight": 0}
    stats |= {"first": None, "last": None}  # since the last GET /mark: first POST, last reply

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line.strip():
                    break
                method, path, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                status, payload = 200, {}
                if method == "POST" and path in ("/v1/chat/completions", "/v1/responses"):
                    stats["requests"] += 1
                    if stats["first"] is None:
                        stats["first"] = time.time()
                    stats["in_flight"] += 1
                    stats["max_in_flight"] = max(stats["max_in_flight"], stats["in_flight"])
                    await asyncio.sleep(latency)
                    stats["in_flight"] -= 1
                    stats["last"] = time.time()
                    payload = _reply(path, body)
                elif method == "GET" and path == "/stats":
                    payload = {k: stats[k] for k in ("requests", "max_in_flight", "first", "last")}
                elif method == "GET" and path == "/mark":
                    stats.update(first=None, last=None, max_in_flight=0)
                elif method == "GET" and path == "/health":
                    payload = {"status": "ok"}
                else:
                    status, payload = 404, {"error": {"message": f"no route {method} {path}"}}
                data = json.dumps(payload).encode()
                close = headers.get("connection", "").lower() == "close"
                writer.write(
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Not Found'}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                    f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
                if close:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    conn.send(server.sockets[0].getsockname()[1])
    async with server:
        await server.serve_forever()


def run_server(latency: float, conn: Any) -> None:
    """Child-process entry point: serve until terminated; sends the port through ``conn``."""
    asyncio.run(_serve(latency, conn))
