"""How the language server talks to its client: stdio, or one client over TCP.

Everything that leans on pygls internals lives here (``tests/test_lsp_transport.py``
pins each one, so a pygls upgrade that changes them fails there, not in an editor):

- ``LanguageServer._stop_event``: the ``threading.Event`` that ``shutdown()`` sets to end
  the read loop; the TCP serve loop installs its own so ``exit`` stops it.
- ``pygls.io_.run_async(stop_event=, reader=, protocol=, logger=, error_handler=)``: the
  read loop over an asyncio stream (pygls's own ``start_tcp`` serves forever, accepting
  client after client; an editor's server should end with its one client, like stdio).
- ``JsonRPCProtocol._shutdown``: whether the client sent ``shutdown`` before ``exit``,
  which decides the exit code (0 after ``shutdown``, 1 without, as LSP asks).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

from pygls.lsp.server import LanguageServer

from gemma_review.errors import InputError

log = logging.getLogger("gemma_review.lsp")


def parse_tcp(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:2087``, ``:2087`` = 127.0.0.1) -> (host, port)."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InputError(f"--tcp expects HOST:PORT (e.g. 127.0.0.1:2087), got {value!r}")
    return host, int(port)


def serve_stdio(server: LanguageServer) -> None:
    server.start_io()


def serve_tcp(server: LanguageServer, host: str, port: int) -> None:
    """One client over TCP, like stdio; prints the bound address (useful with port 0)."""
    from pygls.io_ import run_async

    stop = threading.Event()
    server._stop_event = stop  # shutdown() sets it: the read loop ends

    async def serve() -> None:
        done = asyncio.Event()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            server.protocol.set_writer(writer)  # type: ignore[arg-type]
            try:
                await run_async(stop_event=stop, reader=reader, protocol=server.protocol, logger=log,
                                error_handler=server.report_server_error)
            finally:
                done.set()

        listener = await asyncio.start_server(connection, host, port)
        bound = listener.sockets[0].getsockname()
        sys.stderr.write(f"gemma-review lsp: listening on {bound[0]}:{bound[1]}\n")
        sys.stderr.flush()
        async with listener:
            await done.wait()

    try:
        asyncio.run(serve())
    except (KeyboardInterrupt, SystemExit):
        pass


def shutdown_requested(server: LanguageServer) -> bool:
    """Did the client send ``shutdown`` (so ``exit`` is orderly)?"""
    protocol: Any = server.protocol
    return bool(protocol._shutdown)
