"""A minimal HTTP/1.1 keep-alive client: the load generator must cost far less than the server.

httpx spends about a millisecond of CPU per request here, which makes it, not the server, the limit.
This speaks only what the benchmark needs: one request at a time per connection, Content-Length bodies.
"""

from __future__ import annotations

import asyncio


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host
        self.timeout = 30.0  # a server that stops answering ends the benchmark, not hangs it

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def request(
        self, method: str, path: str, *, headers: str = "", body: bytes = b""
    ) -> tuple[int, bytes]:
        """``headers`` is ready-made ``Name: value\\r\\n`` lines; returns (status, body)."""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: {len(body)}\r\n{headers}\r\n"
        )
        self.writer.write(head.encode() + body)
        async with asyncio.timeout(self.timeout):
            return await self._response()

    async def _response(self) -> tuple[int, bytes]:
        response = await self.reader.readuntil(b"\r\n\r\n")
        status = int(response[9:12])
        length = 0
        for line in response.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            elif line.startswith(b"transfer-encoding:"):
                raise NotImplementedError("chunked responses are not supported")
        return status, await self.reader.readexactly(length) if length else b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()
