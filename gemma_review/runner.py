"""One runner for every front end: worker threads, cancellation and deadlines.

The engine is synchronous; whoever must not block (the language server's event loop, the
hook's time budget, the CLI's parallel requests) runs it here:

- :class:`CancelToken` is the one cancellation signal. It is a ``threading.Event`` (the
  backends and the scheduler poll ``is_set()``) that also reads as set once its deadline
  has passed or its parent is set, so a deadline needs no watcher thread and a child
  token (the parallel requests of one review) stops with its parent.
- :func:`spawn` runs a function in a daemon worker thread and returns a :class:`Task`
  to wait on, cancel, or await from an asyncio loop (:func:`awaitable`).
- :func:`in_order` runs up to N calls at once and yields their results in order; the first
  failure stops the others.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterable, Iterator, TypeVar

from .errors import ReviewCancelled

if TYPE_CHECKING:  # the LSP's loop; the CLI and the hook never import asyncio
    import asyncio

T = TypeVar("T")
R = TypeVar("R")


class CancelToken(threading.Event):
    """Set by :meth:`set`, by its parent, or by its deadline (a ``time.monotonic()`` value)."""

    def __init__(self, deadline: float | None = None, parent: threading.Event | None = None) -> None:
        super().__init__()
        self.deadline = deadline
        self.parent = parent

    def is_set(self) -> bool:
        return super().is_set() or self.expired or (self.parent is not None and self.parent.is_set())

    @property
    def expired(self) -> bool:
        """The deadline (its own or a parent's) has passed."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return True
        return isinstance(self.parent, CancelToken) and self.parent.expired

    def left(self) -> float | None:
        """Seconds until the deadline, or None without one."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def child(self, deadline: float | None = None) -> CancelToken:
        return CancelToken(deadline, parent=self)

    def check(self) -> None:
        """Raise :class:`ReviewCancelled` when set: the one place a run stops itself."""
        if self.is_set():
            raise ReviewCancelled


def token_for(cancel: threading.Event | None, deadline: float | None = None) -> CancelToken:
    """The caller's event as a token (a plain ``threading.Event`` becomes its parent)."""
    if isinstance(cancel, CancelToken) and deadline is None:
        return cancel
    return CancelToken(deadline, parent=cancel)


class Task(Generic[T]):
    """A call running in a worker thread; its outcome once :meth:`done`."""

    def __init__(self, token: CancelToken) -> None:
        self.token = token
        self._done = threading.Event()
        self._value: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Task[T]], None]] = []
        self._lock = threading.Lock()

    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)

    def cancel(self) -> None:
        self.token.set()

    def result(self) -> T:
        """The return value, or the exception re-raised in the caller's thread."""
        if not self._done.is_set():
            raise RuntimeError("the task has not finished")
        if self._error is not None:
            raise self._error
        return self._value

    @property
    def error(self) -> BaseException | None:
        return self._error

    def add_done_callback(self, fn: Callable[[Task[T]], None]) -> None:
        """``fn(task)`` once it is done, in the worker thread (or now, if it already is)."""
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(fn)
                return
        fn(self)

    def _settle(self, value: Any, error: BaseException | None) -> None:
        self._value, self._error = value, error
        with self._lock:
            self._done.set()
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(self)


def spawn(fn: Callable[[CancelToken], T], token: CancelToken | None = None, name: str = "gemma-review") -> Task[T]:
    """Run ``fn(token)`` in a daemon thread (it must never keep the process alive)."""
    task: Task[T] = Task(token or CancelToken())

    def work() -> None:
        try:
            value = fn(task.token)
        except BaseException as exc:  # everything reaches the waiter; the thread never dies silently
            task._settle(None, exc)
        else:
            task._settle(value, None)

    threading.Thread(target=work, name=name, daemon=True).start()
    return task


def awaitable(loop: asyncio.AbstractEventLoop, task: Task[T]) -> asyncio.Future[T]:
    """``task``'s outcome as an asyncio future of ``loop``; cancelling the future cancels the task."""
    future: asyncio.Future[T] = loop.create_future()

    def settle(t: Task[T]) -> None:
        if future.done():
            return
        if t.error is not None:
            future.set_exception(t.error)
        else:
            future.set_result(t.result())

    def relay(t: Task[T]) -> None:
        try:
            loop.call_soon_threadsafe(settle, t)
        except RuntimeError:
            pass  # the loop is closed: the server is exiting

    future.add_done_callback(lambda f: task.cancel() if f.cancelled() else None)
    task.add_done_callback(relay)
    return future


def run_in_thread(loop: asyncio.AbstractEventLoop, fn: Callable[[], T]) -> asyncio.Future[T]:
    """Await ``fn()`` run in a worker thread."""
    return awaitable(loop, spawn(lambda _token: fn(), name="gemma-review-task"))


def in_order(fn: Callable[[R, CancelToken], T], items: Iterable[R], jobs: int, token: CancelToken) -> Iterator[T]:
    """``fn(item, stop)`` for every item, ``jobs`` at a time, yielded in the items' order.

    ``stop`` is a child of ``token``: the first failure (or the caller leaving early) sets
    it, so the calls still running or waiting end too.
    """
    items = list(items)
    token.check()
    if jobs <= 1 or len(items) <= 1:
        for item in items:
            token.check()
            yield fn(item, token)
        return
    from concurrent.futures import ThreadPoolExecutor  # only reviews with --jobs N pay for it

    stop = token.child()
    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="gemma-review-req")
    try:
        futures = [pool.submit(fn, item, stop) for item in items]
        for future in futures:
            try:
                value = future.result()
            except BaseException:
                stop.set()
                raise
            yield value
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    token.check()
