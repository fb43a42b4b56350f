"""One model request: send a packed request, read the streamed reply, verify, keep what anchors.

The reply is parsed while it streams (the first finding can be shown before the model is
done), repetition loops are stopped, a cut-off or non-JSON reply is noted and its units
are not cached as complete, and findings at or above ``fail_on`` go through the
verification pass first when it is on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Callable

from . import findings as fnd
from .backends.base import Backend, Metrics, ModelRequest
from .config import Settings
from .findings import Dropped, Finding
from .packing import Request, attribute, request_messages
from .prompt import REVIEW_SCHEMA, VERIFY_SCHEMA, verify_messages
from .result import VerifyStats
from .runner import CancelToken
from .scheduler import Priority, Scheduler
from .stream_parse import FindingLoop, FindingStream, LoopDetector
from .terminal import encodable
from .tokens import estimate_tokens
from .units import Unit

VERIFY_NUM_PREDICT = 96  # {"confirmed": true, "reason": "<one sentence>"}


@dataclass
class Answer:
    """What one request produced, applied to the run's result in request order."""

    request: Request
    # (index of the unit in request.units, finding), in the order the reply wrote them.
    findings: list[tuple[int, Finding]] = field(default_factory=list)
    truncated: bool = False
    notes: list[str] = field(default_factory=list)
    metrics: Metrics | None = None
    estimated: int = 0
    raw_findings: int = 0
    dropped: list[Dropped] = field(default_factory=list)
    loops_stopped: int = 0
    verify: VerifyStats | None = None  # the verification pass of this request's findings

    @property
    def found(self) -> list[Finding]:
        return [f for _, f in self.findings]

    def of_unit(self, index: int) -> list[Finding]:
        return [f for i, f in self.findings if i == index]


def encodable_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    # A file name that is not UTF-8 reaches here with lone surrogates; a request must encode.
    return [{**m, "content": encodable(m["content"])} for m in messages]


class Asker:
    """Sends requests to one backend through the shared scheduler."""

    def __init__(
        self,
        backend: Backend,
        settings: Settings,
        scheduler: Scheduler,
        guidelines: str | None,
        cap: Callable[[Finding], Finding],
        on_text: Callable[[str], None] | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.scheduler = scheduler
        self.guidelines = guidelines
        self.cap = cap
        self.on_text = on_text

    def ask(
        self,
        request: Request,
        lines_of: dict[str, list[str]],
        sizes: dict[str, int],
        token: CancelToken,
        priority: Priority | None,
        emit: Callable[[Finding], None] | None,
    ) -> Answer:
        """One request; findings go to ``emit`` as they stream (None: kept for the caller, in order)."""
        s = self.settings
        answer = Answer(request)
        messages = encodable_messages(request_messages(request, self.guidelines, sizes))
        estimated = sum(estimate_tokens(m["content"]) for m in messages)
        where = request.where
        if estimated + s.num_predict > s.num_ctx:
            # Only a single over-long line gets here (units are split to fit): never let the
            # server cut the front of the prompt, where the instructions are.
            answer.notes.append(f"{where}: too large for num_ctx {s.num_ctx} even alone; not reviewed")
            return answer
        answer.estimated = estimated
        model_request = ModelRequest(
            messages=messages, schema=REVIEW_SCHEMA, num_ctx=s.num_ctx, num_predict=s.num_predict,
            seed=s.seed, timeout=s.timeout, keep_alive=s.keep_alive,
        )
        parser = FindingStream()
        loop = LoopDetector()
        repeats = FindingLoop()
        verifying = s.verify and s.fail_on != "never"
        held: list[tuple[int, Finding]] = []  # waiting for the verification pass
        metrics: Metrics | None = None
        looped: str | None = None
        text_seen = False

        def take(raw: dict) -> None:
            answer.raw_findings += 1
            first_drop: list[Dropped] = []

            def build(unit: Unit, raw: dict) -> Finding | None:
                built = fnd.judge(unit, raw, lines_of[unit.path])
                if isinstance(built, Dropped):
                    first_drop.append(built)
                    return None
                return built

            hit = attribute(request, raw, build)
            if hit is None:
                answer.dropped.append(first_drop[0] if first_drop else Dropped.of_raw(request.units[0].path, raw, "no anchor"))
                return
            unit, f = hit
            entry = (request.units.index(unit), self.cap(f))
            if verifying and entry[1].at_least(s.fail_on):
                held.append(entry)  # shown once the model has confirmed or withdrawn it
                return
            answer.findings.append(entry)
            if emit is not None:
                emit(entry[1])

        # The slot is held from send to the last chunk: the backend's timeout starts inside it.
        with self.scheduler.slot(token, priority):
            stream = self.backend.stream_chat(model_request, token)
            try:
                for chunk in stream:
                    token.check()
                    if chunk.text:
                        if self.on_text is not None:
                            self.on_text(chunk.text)
                        text_seen = text_seen or bool(chunk.text.strip())
                        for raw in parser.feed(chunk.text):
                            verdict = repeats.feed(raw)
                            for ok in verdict.emit:
                                take(ok)
                            for copy in verdict.dropped:
                                answer.raw_findings += 1
                                answer.dropped.append(Dropped.of_raw(request.units[0].path, copy, "loop"))
                            if verdict.stop:
                                looped = verdict.stop
                                break
                        if looped is None and loop.feed(chunk.text):
                            looped = "repeated itself"
                        if looped is not None:
                            break
                    if chunk.done:
                        metrics = chunk.metrics
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # stops generation when we leave early
        token.check()
        for raw in repeats.finish():
            take(raw)
        answer.metrics = metrics
        distinct = len({f.fingerprint for _, f in answer.findings + held})  # counted after de-duplication
        answer.truncated = self._judge_reply(answer, parser, repeats, looped, text_seen, bool(metrics and metrics.truncated), distinct)
        for index, f in held:
            token.check()
            with self.scheduler.slot(token, priority):
                checked = self.verify(request.units[index], f, answer, token)
            answer.findings.append((index, checked))
            if emit is not None:
                emit(checked)
        return answer

    def _judge_reply(
        self, answer: Answer, parser: FindingStream, repeats: FindingLoop, looped: str | None, text_seen: bool,
        truncated: bool, distinct: int,
    ) -> bool:
        """Note what was wrong with the reply; True when its units must not be cached as complete."""
        where = answer.request.where
        if looped is None and parser.open_object and (truncated or not parser.closed):
            answer.raw_findings += 1
            answer.dropped.append(Dropped(answer.request.units[0].path, None, "", "cut off"))
        plural = "s" if distinct != 1 else ""
        if looped is not None:
            answer.loops_stopped += 1
            copies = repeats.repeats
            answer.notes.append(
                f"{where}: the model {looped}; stopped reading after {distinct} distinct finding{plural}"
                + (f" ({copies} repeated cop{'y' if copies == 1 else 'ies'} dropped)" if copies else "")
            )
            return True
        if not text_seen:
            answer.notes.append(f"{where}: the model returned an empty reply")
            return truncated
        if parser.thinking:
            answer.notes.append(f"{where}: the reply ended inside its <think> draft; nothing kept")
            return True
        if truncated or (not parser.closed and parser.buffer.strip()):
            if not parser.found_array:
                answer.notes.append(f"{where}: the reply was not the expected JSON; nothing kept")
            else:
                answer.notes.append(
                    f"{where}: the reply was cut off (num_predict {self.settings.num_predict}); {distinct} distinct complete "
                    f"finding{plural} before the cut {'were' if distinct != 1 else 'was'} read"
                )
            return True
        return False

    def verify(self, unit: Unit, f: Finding, answer: Answer, token: CancelToken) -> Finding:
        """Ask the model to confirm ``f``; an unconfirmed finding drops to info."""
        s = self.settings
        stats = answer.verify = answer.verify or VerifyStats()
        stats.asked += 1
        messages = encodable_messages(verify_messages(unit, f.line, f.end_line, f.severity, f.category, f.title, f.explanation))
        request = ModelRequest(
            messages=messages, schema=VERIFY_SCHEMA, num_ctx=s.num_ctx, num_predict=VERIFY_NUM_PREDICT,
            seed=s.seed, timeout=s.timeout, keep_alive=s.keep_alive,
        )
        reply, metrics = self.collect(request, token)
        if metrics is not None:
            stats.metrics.add(metrics)
        data = loads_object(after_think(reply))
        confirmed = data.get("confirmed") if data is not None else None
        if confirmed is True:
            stats.confirmed += 1
            return replace(f, extra={**f.extra, "verified": True})
        if confirmed is False:
            stats.withdrawn += 1
            return replace(f, severity="info", extra={**f.extra, "verified": False, "severity_before_verify": f.severity})
        stats.failed += 1
        return f

    def collect(self, request: ModelRequest, token: CancelToken) -> tuple[str, Metrics | None]:
        """The whole text of a short answer (verify, refactor) and its metrics."""
        pieces: list[str] = []
        metrics: Metrics | None = None
        stream = self.backend.stream_chat(request, token)
        try:
            for chunk in stream:
                token.check()
                pieces.append(chunk.text)
                if chunk.done and chunk.metrics is not None:
                    metrics = chunk.metrics
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()  # stops generation when we leave early
        return "".join(pieces), metrics


def after_think(text: str) -> str:
    """The final answer of a reply that drafts in ``<think>…</think>`` first."""
    head = text.lstrip()
    if head.startswith("<think>"):
        end = text.find("</think>")
        return "" if end < 0 else text[end + len("</think>") :]
    return text


def loads_object(text: str) -> dict | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None
