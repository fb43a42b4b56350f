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
from .context import MIN_ANSWER, TokenMeter, context_window, fits_surely, message_bytes
from .errors import PromptTooLargeError
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

# The answer's room grows with the units of a packed request (within the context).
PREDICT_PER_UNIT = 128
MAX_PREDICT_FACTOR = 4
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
    unreviewed: set[int] = field(default_factory=set)  # units too large even alone: no answer, no cache entry
    num_predict: int = 0
    cut: bool = False  # the server cut the prompt: nothing of this answer is used

    def add_metrics(self, m: Metrics) -> None:
        if self.metrics is None:
            self.metrics = Metrics()
        self.metrics.add(m)

    def merge(self, part: Answer) -> None:
        """The answer to a part of this request (after a split), unit indices remapped."""
        index = {i: self.request.units.index(u) for i, u in enumerate(part.request.units)}
        self.findings.extend((index[i], f) for i, f in part.findings)
        self.truncated = self.truncated or part.truncated
        self.notes.extend(part.notes)
        if part.metrics is not None:
            self.add_metrics(part.metrics)
        self.estimated += part.estimated
        self.raw_findings += part.raw_findings
        self.dropped.extend(part.dropped)
        self.loops_stopped += part.loops_stopped
        self.unreviewed.update(index[i] for i in part.unreviewed)
        if part.verify is not None:
            self.verify = self.verify or VerifyStats()
            self.verify.add(part.verify)

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
        meter: TokenMeter | None = None,
        learned: Callable[[str], str] | None = None,
    ) -> None:
        self.meter = meter or TokenMeter(backend, context_window(backend, settings.num_ctx))
        self.backend = backend
        self.settings = settings
        self.scheduler = scheduler
        self.guidelines = guidelines
        self.cap = cap
        self.on_text = on_text
        # learn = true: the examples block for a request's file ("" for none)
        self.learned: Callable[[str], str] = learned or (lambda path: "")

    def ask(
        self,
        request: Request,
        lines_of: dict[str, list[str]],
        sizes: dict[str, int],
        token: CancelToken,
        priority: Priority | None,
        emit: Callable[[Finding], None] | None,
    ) -> Answer:
        """One packed request, split in halves (down to one unit) while it does not fit:
        by count, because the server refused it as too long, or because the server cut it.
        Findings go to ``emit`` as they stream (None: kept for the caller, in order)."""
        answer = Answer(request)
        self._fitted(request, answer, lines_of, sizes, token, priority, emit)
        return answer

    def _fitted(
        self, request: Request, into: Answer, lines_of: dict[str, list[str]], sizes: dict[str, int],
        token: CancelToken, priority: Priority | None, emit: Callable[[Finding], None] | None,
    ) -> None:
        s = self.settings
        meter = self.meter
        n_ctx = meter.n_ctx
        learned = self.learned(request.units[0].path) if request.units else ""
        messages = encodable_messages(request_messages(request, self.guidelines, sizes, learned))
        count, exact = meter.count(messages)
        units = len(request.units)
        where = request.where

        def split(why: str | None) -> None:
            if why is not None:
                into.notes.append(why)
            half = units // 2
            for part in (request.units[:half], request.units[half:]):
                self._fitted(Request(part), into, lines_of, sizes, token, priority, emit)

        def give_up(why: str) -> None:
            into.notes.append(f"{where}: {why}; not reviewed")
            into.unreviewed.update(into.request.units.index(u) for u in request.units)

        least = min(s.num_predict, MIN_ANSWER)  # one unit alone may answer in less than num_predict
        if count + s.num_predict > n_ctx:
            if units > 1:
                return split(None)  # packing guessed; the count knows better
            plain = sum(estimate_tokens(m["content"]) for m in messages)
            if (exact and count + least > n_ctx) or plain + least > n_ctx:
                return give_up(f"too large for the context ({count} tokens + {least} to answer > {n_ctx}) even alone")
        grown = min(s.num_predict + PREDICT_PER_UNIT * (units - 1), MAX_PREDICT_FACTOR * s.num_predict)
        num_predict = max(least, min(grown, n_ctx - count))
        # Findings are shown as they stream only when the prompt cannot have been cut;
        # otherwise they wait for the server's prompt count.
        # A context we cannot know (an OpenAI-compatible server that says nothing) may be
        # smaller than num_ctx: there every answer waits for the count.
        known = meter.window.server_n_ctx is not None or getattr(self.backend, "name", "") == "ollama"
        hold = not known or not (exact or fits_surely(messages, num_predict, n_ctx))
        try:
            got = self._ask_once(
                request, messages, count, num_predict, lines_of, token, priority, None if hold else emit,
                lambda m: meter.was_cut(m.prompt_tokens, m.cached_prompt_tokens, count, exact, messages),
            )
        except PromptTooLargeError as exc:
            said = str(exc).split(";")[0]  # without the hint: the run handles it
            meter.event("refused", f"{where}: {said}")
            if exc.n_ctx is not None and meter.shrink(exc.n_ctx, "the server's refusal of a longer prompt"):
                # Now the context is known: fit this request to it (splitting by count).
                into.notes.append(
                    f"{where}: the server refused the prompt as too long: it holds {exc.n_ctx} tokens, "
                    f"not num_ctx {s.num_ctx}; requests are fitted to {exc.n_ctx} from now on"
                )
                return self._fitted(request, into, lines_of, sizes, token, priority, emit)
            if units > 1:
                return split(f"{where}: the server refused the prompt as too long ({said}); split and sent again")
            return give_up(f"the server refused it as too long ({said})")
        m = got.metrics
        if m is not None and got.cut:
            reported = m.prompt_tokens + (m.cached_prompt_tokens or 0)
            meter.event("cut", f"{where}: {reported} prompt tokens reported, context {n_ctx}")
            n_ctx = meter.n_ctx  # the server's own context, when the cut told it
            meter.learn(message_bytes(messages), reported)  # a lower bound of the true count: still teaches
            into.add_metrics(m)
            why = f"the server cut the prompt to its context ({reported} prompt tokens reported of about {count} sent); its answer was discarded"
            if units > 1:
                return split(f"{where}: {why}, the request split and sent again")
            return give_up(why)
        if m is not None and not exact:
            meter.learn(message_bytes(messages), m.prompt_tokens + (m.cached_prompt_tokens or 0))
        into.merge(got)
        if hold and emit is not None:
            for _, f in got.findings:
                emit(f)

    def _ask_once(
        self, request: Request, messages: list[dict[str, str]], estimated: int, num_predict: int,
        lines_of: dict[str, list[str]], token: CancelToken, priority: Priority | None,
        emit: Callable[[Finding], None] | None, cut: Callable[[Metrics], bool],
    ) -> Answer:
        s = self.settings
        answer = Answer(request)
        answer.estimated = estimated
        answer.num_predict = num_predict
        model_request = ModelRequest(
            messages=messages, schema=REVIEW_SCHEMA, num_ctx=s.num_ctx, num_predict=num_predict,
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
        if metrics is not None and cut(metrics):
            answer.cut = True
            return answer  # neither judged nor verified: the caller discards it
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
                    f"{where}: the reply was cut off (num_predict {answer.num_predict}); {distinct} distinct complete "
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
