"""A lean keep-alive HTTP/1.1 client for measuring servers on loopback.

A general-purpose client costs about as much per request as the server being measured
(httpx: ~0.4 ms a request here), so latency would mostly measure the client. This one sends
prebuilt request bytes on a kept-alive connection and reads the response by its Content-Length,
as wrk does: microseconds a request. It speaks only what the benchmarks need (POST/GET with a
fixed body, responses with Content-Length) and checks the status of every response.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import time

_HEAD_END = b"\r\n\r\n"


def request_bytes(method: str, path: str, body: bytes | None = None) -> bytes:
    """One HTTP/1.1 request, ready to send again and again."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body is None:
        return (head + "\r\n").encode()
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def _parse(buffer: bytearray) -> tuple[int, int] | None:
    """(status, total length) of the response at the start of ``buffer``, once its head is in."""
    end = buffer.find(_HEAD_END)
    if end < 0:
        return None
    head = buffer[:end].decode("latin-1")
    status = int(head[9:12])
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return status, end + 4 + int(value)
    raise ValueError(f"response without Content-Length: {head[:200]!r}")


class Connection:
    """One blocking keep-alive connection (sequential latency)."""

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self._sock = socket.create_connection((host, port))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # bytearray: a large response arrives in many chunks, and appending to bytes copies it
        self._buffer = bytearray()

    def send(self, request: bytes) -> bytes:
        """Send a prebuilt request; the response body, after checking the status is 200."""
        self._sock.sendall(request)
        while (parsed := _parse(self._buffer)) is None or len(self._buffer) < parsed[1]:
            chunk = self._sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._buffer += chunk
        status, length = parsed
        response, self._buffer = self._buffer[:length], self._buffer[length:]
        if status != 200:
            raise RuntimeError(f"HTTP {status}: {response[:500]!r}")
        return bytes(response[response.find(_HEAD_END) + 4 :])

    def close(self) -> None:
        """Close the connection."""
        self._sock.close()


def latencies(port: int, request: bytes, n: int, warmup: int) -> list[float]:
    """Seconds per request of ``n`` sequential requests on one connection."""
    conn = Connection(port)
    try:
        for _ in range(warmup):
            conn.send(request)
        out = []
        for _ in range(n):
            t0 = time.perf_counter()
            conn.send(request)
            out.append(time.perf_counter() - t0)
        return out
    finally:
        conn.close()


class _Client(asyncio.Protocol):
    """One connection of the concurrent load: sends the next request when a response is in."""

    def __init__(self, request: bytes, budget: list[int], done: asyncio.Future[None]) -> None:
        self._request = request
        self._budget = budget  # requests left to send, shared by all connections
        self._done = done
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.answered = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._next()

    def _next(self) -> None:
        assert self._transport is not None
        if self._budget[0] <= 0:
            self._transport.close()
            if not self._done.done():
                self._done.set_result(None)
            return
        self._budget[0] -= 1
        self._transport.write(self._request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (parsed := _parse(self._buffer)) is not None and len(self._buffer) >= parsed[1]:
            status, length = parsed
            if status != 200:
                if not self._done.done():
                    self._done.set_exception(RuntimeError(f"HTTP {status}: {self._buffer[:300]!r}"))
                return
            self._buffer = self._buffer[length:]
            self.answered += 1
            self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._done.done():
            self._done.set_exception(exc or ConnectionError("server closed the connection"))


async def _load(port: int, request: bytes, total: int, concurrency: int) -> float:
    loop = asyncio.get_running_loop()
    budget = [total]
    dones: list[asyncio.Future[None]] = [loop.create_future() for _ in range(concurrency)]
    clients: list[_Client] = []
    t0 = time.perf_counter()
    for done in dones:
        _, client = await loop.create_connection(
            functools.partial(_Client, request, budget, done), "127.0.0.1", port
        )
        clients.append(client)
    await asyncio.gather(*dones)
    elapsed = time.perf_counter() - t0
    answered = sum(c.answered for c in clients)
    if answered != total:
        raise RuntimeError(f"{answered} of {total} requests answered")
    return total / elapsed


def throughput(port: int, request: bytes, total: int, concurrency: int) -> float:
    """Requests per second: ``total`` requests over ``concurrency`` kept-alive connections."""
    asyncio.run(_load(port, request, min(total, 50 * concurrency), concurrency))  # warm-up
    return asyncio.run(_load(port, request, total, concurrency))
