"""The JSON-RPC layer, hardened: a malformed request gets an error response, never silence.

pygls drops a request whose params do not match the protocol types after logging it,
which leaves the client waiting forever; here it is answered with ``InvalidParams``.
Positions are always UTF-16, the encoding every client supports and LSP's default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method


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
        return (yield from super().lsp_initialize(params))


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
