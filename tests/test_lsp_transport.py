"""Pins the pygls behaviour ``gemma_review.lsp.transport`` (and ``protocol``) rely on.

pygls gives no public way to serve exactly one TCP client or to ask whether ``shutdown``
came before ``exit``; the transport module uses its internals for that. If a pygls
release changes them, these tests fail here, by name, instead of an editor hanging.
The whole TCP path runs end to end in tests/test_lsp_server.py::test_tcp_transport.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading

import pytest
from pygls.io_ import run_async
from pygls.protocol import LanguageServerProtocol

from gemma_review.errors import InputError
from gemma_review.lsp import transport
from gemma_review.lsp.server import build_server


class Sink:
    """A writer as ``protocol.set_writer`` takes it (asyncio.StreamWriter's write/close)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass

    def messages(self) -> list[dict]:
        out, rest = [], bytes(self.data)
        while rest:
            header, _, rest = rest.partition(b"\r\n\r\n")
            length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
            out.append(json.loads(rest[:length]))
            rest = rest[length:]
        return out


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_shutdown_sets_the_stop_event_the_transport_installs() -> None:
    server = build_server()
    stop = threading.Event()
    server._stop_event = stop
    server.shutdown()
    assert stop.is_set()


def test_run_async_takes_the_keywords_the_transport_passes() -> None:
    params = inspect.signature(run_async).parameters
    assert {"stop_event", "reader", "protocol", "logger", "error_handler"} <= set(params)


def test_the_shutdown_flag_follows_the_shutdown_request() -> None:
    server = build_server()
    sink = Sink()
    server.protocol.set_writer(sink)  # type: ignore[arg-type]
    assert transport.shutdown_requested(server) is False

    async def serve() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(frame({"jsonrpc": "2.0", "id": 1, "method": "shutdown"}))
        reader.feed_eof()
        await run_async(stop_event=threading.Event(), reader=reader, protocol=server.protocol,
                        error_handler=server.report_server_error)
        for _ in range(100):  # the response is written by a task the loop runs next
            if sink.data:
                break
            await asyncio.sleep(0.01)

    asyncio.run(serve())
    assert transport.shutdown_requested(server) is True
    assert [m.get("id") for m in sink.messages()] == [1]


def test_protocol_answers_through_send_response() -> None:
    # protocol.GemmaProtocol answers unreadable requests with pygls's _send_response.
    params = inspect.signature(LanguageServerProtocol._send_response).parameters
    assert {"msg_id", "result", "error"} <= set(params)


@pytest.mark.parametrize(("value", "address"), [
    ("127.0.0.1:2087", ("127.0.0.1", 2087)),
    (":0", ("127.0.0.1", 0)),
    ("[::1]:2087", ("::1", 2087)),
])
def test_parse_tcp(value: str, address: tuple[str, int]) -> None:
    assert transport.parse_tcp(value) == address


@pytest.mark.parametrize("value", ["localhost", "host:port", "h:70000", ""])
def test_parse_tcp_rejects(value: str) -> None:
    with pytest.raises(InputError, match="--tcp expects HOST:PORT"):
        transport.parse_tcp(value)
