"""The sockets `serve` listens on say they are TCP, so every connection asyncio accepts on them
has Nagle's algorithm off (TCP_NODELAY). Without it, a response written in two parts waited
for the client's delayed ACK (40 ms on Linux) on each request of a kept-alive connection.
The oracle is the option the kernel reports on the accepted socket, read back with
getsockopt; the planted contrast is a socket made the old way (protocol left 0)."""

from __future__ import annotations

import asyncio
import socket

from entrusted.entrypoints.cli.listen import listening_socket


def _accepted_nodelay(listener: socket.socket) -> int:
    """TCP_NODELAY on the server side of one connection accepted by an asyncio server."""
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Probe, sock=listener)
        host, port = listener.getsockname()[:2]
        async with server:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
            for _ in range(100):  # bounded: the server's callback runs within a few turns
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(run())
    assert seen, "the server accepted no connection"
    return seen[0]


def test_connections_accepted_on_the_serve_socket_have_nagle_off() -> None:
    listener = listening_socket("127.0.0.1", 0)
    assert listener.proto == socket.IPPROTO_TCP
    assert _accepted_nodelay(listener) != 0


def test_a_socket_without_its_protocol_named_keeps_nagle_on() -> None:
    """What the check is for: asyncio leaves such a socket's connections as they are."""
    listener = socket.socket(socket.AF_INET)  # protocol 0, as `listening_socket` once did
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    assert _accepted_nodelay(listener) == 0
