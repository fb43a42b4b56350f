"""What the user sees of a running review: work-done progress and the status notification.

Progress is server-initiated (``window/workDoneProgress/create``) and used only once the
client has accepted the token, as the protocol asks; reports that arrive earlier are
held and the latest one is sent then. ``gemma-review/status`` is the extension's status
bar: sent whenever its content changes.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable

from lsprotocol import types

STATUS_METHOD = "gemma-review/status"


class ReviewProgress:
    def __init__(self, server: Any, token: str, title: str, cancellable: bool = True) -> None:
        self.server = server
        self.token = token
        self.title = title
        self.cancellable = cancellable
        self.ready = False
        self.ended = False
        self._latest: tuple[str, int | None] | None = None
        self._begun = False

    def create(self) -> None:
        def answered(future: Future[Any]) -> None:
            if future.cancelled() or future.exception() is not None:
                self.ended = True  # the client refused the token: no progress for this review
                return
            if self.ended:
                return  # the review finished before the client answered: nothing to show
            self.ready = True
            # pygls routes window/workDoneProgress/cancel through its token table.
            self.server.work_done_progress.tokens.setdefault(self.token, Future())
            self._flush()

        try:
            future = self.server.protocol.send_request(
                types.WINDOW_WORK_DONE_PROGRESS_CREATE, types.WorkDoneProgressCreateParams(token=self.token)
            )
        except Exception:  # a closed transport: no progress, no harm
            self.ended = True
            return
        future.add_done_callback(answered)

    def report(self, message: str, percentage: int | None = None) -> None:
        if self.ended:
            return
        self._latest = (message, percentage)
        if self.ready:
            self._flush()

    def end(self, message: str) -> None:
        if self.ended:
            return
        if self.ready:
            self._flush()
            self.server.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.server.work_done_progress.tokens.pop(self.token, None)
        self.ended = True

    def _flush(self) -> None:
        if self.ended:
            return
        message, percentage = self._latest or ("starting", 0)
        if not self._begun:
            self._begun = True
            self.server.work_done_progress.begin(
                self.token,
                types.WorkDoneProgressBegin(
                    title=self.title, cancellable=self.cancellable, message=message, percentage=percentage
                ),
            )
        elif self._latest is not None:
            self.server.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=message, percentage=percentage)
            )
        self._latest = None


def progress_message(done: int, total: int, tokens_per_second: float) -> tuple[str, int | None]:
    rate = f", {tokens_per_second:.0f} tok/s" if tokens_per_second else ""
    percentage = int(100 * done / total) if total else None
    return f"{done}/{total} unit{'s' if total != 1 else ''}{rate}", percentage


@dataclass
class Status:
    state: str = "idle"  # idle | reviewing | unavailable | error
    model: str = ""
    backend: str | None = None
    tokens_per_second: float | None = None
    message: str | None = None

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "model": self.model}
        if self.backend:
            out["backend"] = self.backend
        if self.tokens_per_second:
            out["tokensPerSecond"] = round(self.tokens_per_second, 1)
        if self.message:
            out["message"] = self.message
        return out


class StatusTracker:
    """Sends ``gemma-review/status`` when what it says changes."""

    def __init__(self, send: Callable[[dict[str, Any]], None]) -> None:
        self._send = send
        self.current = Status()
        self._last: dict[str, Any] | None = None

    def update(self, **fields: Any) -> None:
        for key, value in fields.items():
            setattr(self.current, key, value)
        params = self.current.params()
        if params != self._last:
            self._last = params
            self._send(params)
