"""The JSON-RPC layer, hardened: a malformed request gets an error response, never silence.

pygls drops a request whose params do not match the protocol types after logging it,
which leaves the client waiting forever; here it is answered with ``InvalidParams``.
Requests after ``shutdown`` are answered with ``InvalidRequest`` (pygls drops them too).
An unexpected exception is answered with one line; its traceback goes to the server's
log, not into ``error.data``. Positions are always UTF-16, the encoding every client
supports and LSP's default; documents follow the protocol's line model (``documents``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .documents import replace_workspace

REQUEST_FAILED = -32803  # LSP RequestFailed: a request understood but not carried out


@dataclass
class BadRequest:
    """A request that could not be read; answered with ``error``."""

    id: int | str | None
    method: str
    error: JsonRpcException


class GemmaProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                msg_id = data.get("id")
                if not isinstance(msg_id, (int, str)) or isinstance(msg_id, bool):
                    msg_id = None
                method = str(data.get("method"))
                detail = exc.__cause__ or exc
                error: JsonRpcException = JsonRpcInvalidParams(f"invalid params for {method}: {_short(detail)}")
                if not isinstance(data.get("method"), str):
                    error = JsonRpcInvalidRequest("the request has no method name")
                return BadRequest(msg_id, method, error)
            raise

    def handle_message(self, message: Any) -> None:
        if self._shutdown and _is_request(message) and message.method != types.EXIT:
            error = JsonRpcInvalidRequest(f"the server is shutting down; {message.method} is not accepted after shutdown")
            self._send_response(message.id, error=error.to_response_error())
            return
        if isinstance(message, BadRequest):
            self._send_response(message.id, error=message.error.to_response_error())  # type: ignore[arg-type]
            return
        if not hasattr(message, "jsonrpc"):
            # Valid JSON that is not a JSON-RPC message (e.g. a bare list or string).
            return
        super().handle_message(message)

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):  # type: ignore[override]
        # Offer only UTF-16: it is what LSP mandates and what every client speaks.
        if params.capabilities.general is not None:
            params.capabilities.general.position_encodings = None
        inner = super().lsp_initialize(params)
        try:
            step = next(inner)
        except StopIteration as stop:
            self._workspace = replace_workspace(self.workspace)
            return stop.value
        # pygls has made its workspace and now asks to run the server's initialize handler:
        # from here on, documents count lines as the protocol does.
        self._workspace = replace_workspace(self.workspace)
        while True:
            value = yield step
            try:
                step = inner.send(value)
            except StopIteration as stop:
                return stop.value

    def _send_response(self, msg_id: Any, result: Any = None, error: types.ResponseError | None = None) -> None:
        if error is not None and error.code == JsonRpcInternalError.CODE and isinstance(error.data, dict) and "traceback" in error.data:
            # pygls puts the traceback of an unexpected exception into the response, and the
            # editor shows it to the user. One line is enough there; pygls has already
            # logged the traceback (stderr, which editors keep in the server's log).
            error = types.ResponseError(code=error.code, message=f"internal error: {_short(error.message)}; details in the gemma-review server log")
        super()._send_response(msg_id, result, error)


def _is_request(message: Any) -> bool:
    if isinstance(message, BadRequest):
        return True
    return isinstance(getattr(message, "method", None), str) and hasattr(message, "id")


def _short(exc: object) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
