"""TCP relay: the host's preview proxy reaches servers listening inside the jail through the guest."""

from __future__ import annotations

import asyncio
import base64

from .errors import GuestError

TCP_WINDOW = 1 << 20  # see op_tcp


class TcpRelay:
    """The TCP requests of `daemon.Guest` (a mixin: `send`, `conns` and the credit tables come from the daemon)."""

    async def op_tcp(self, rid, req) -> dict:
        port = int(req["port"])
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            raise GuestError("not_found", f"nothing is listening on port {port} inside the sandbox") from None
        self.conns[rid] = writer
        self.credit[rid] = TCP_WINDOW
        self.credit_given[rid] = asyncio.Event()
        await self.send({"id": rid, "ev": "open"})
        try:
            while True:
                # flow control: never more than TCP_WINDOW bytes in flight towards a slow HTTP client, so the
                # host never buffers an endless response (the host acknowledges what its client took)
                while self.credit[rid] <= 0:
                    self.credit_given[rid].clear()
                    await self.credit_given[rid].wait()
                chunk = await reader.read(65536)
                if not chunk:
                    return {}
                self.credit[rid] -= len(chunk)
                await self.send({"id": rid, "ev": "data", "b64": base64.b64encode(chunk).decode()})
        finally:
            self.conns.pop(rid, None)
            self.credit.pop(rid, None)
            self.credit_given.pop(rid, None)
            writer.close()

    async def op_tcp_ack(self, rid, req) -> dict:
        conn = req["conn"]
        if conn in self.credit:
            self.credit[conn] += int(req.get("bytes") or 0)
            self.credit_given[conn].set()
        return {}

    async def op_tcp_write(self, rid, req) -> dict:
        writer = self.conns.get(req["conn"])
        if writer is None:
            raise GuestError("not_found", "the connection is closed")
        if req.get("b64"):
            writer.write(base64.b64decode(req["b64"]))
            await writer.drain()
        if req.get("close"):
            writer.close()
            if req["conn"] in self.credit:  # wake a relay waiting for credit so it sees the end and stops
                self.credit[req["conn"]] = TCP_WINDOW
                self.credit_given[req["conn"]].set()
        return {}
