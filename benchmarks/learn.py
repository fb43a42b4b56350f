"""What ``learn = true`` adds to each prompt: the team's dismissals as "judged not a problem here".

For every sample file (one request of the whole file, as a review of it sends), the prompt
with and without the examples block, against a decisions store made of the pairs' decisions
in ``tests/decisions_pairs.json`` (the labelled findings of ``samples/`` and their
look-alikes, each dismissed with a reason): tokens the block adds (the project's estimate,
``tokens.estimate_tokens``), how many dismissals it carries, and whether the prefix a server
caches (the system message and the guidelines) is byte-identical. Then the worst case:
long titles, code and reasons, to show the block stays within ``EXAMPLE_BUDGET``.

    python benchmarks/learn.py [--gguf MODEL.gguf]

With ``--gguf`` the tokens are also counted by that model's own tokenizer (llama.cpp, the
``embedded`` backend; e.g. the bundled demo model) for the chat messages as sent.
"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review import verdicts as vd  # noqa: E402
from gemma_review.config import CATEGORIES  # noqa: E402
from gemma_review.decisions import Decision, Decisions  # noqa: E402
from gemma_review.findings import fingerprint  # noqa: E402
from gemma_review.languages import language_of  # noqa: E402
from gemma_review.packing import Request, request_messages  # noqa: E402
from gemma_review.textfile import split_lines  # noqa: E402
from gemma_review.tokens import estimate_tokens  # noqa: E402
from gemma_review.units import Unit  # noqa: E402

GUIDELINES = "Prefer explicit errors over silent defaults."


def store() -> Decisions:
    pairs = json.loads((REPO / "tests" / "decisions_pairs.json").read_text(encoding="utf-8"))["pairs"]
    seen: dict[str, Decision] = {}
    for i, p in enumerate(pairs):
        d = p["decision"]
        fp = fingerprint(d["path"], d["category"], d["code"].split("\n"))
        seen.setdefault(fp, Decision(fp, d["path"], d["category"], d["title"], d["code"], "dismissed",
                                     "handled by the caller in this code base", "Ann <ann@example.com>", f"2026-11-{i % 28 + 1:02d}"))
    return Decisions(list(seen.values()))


def tokens(messages: list[dict[str, str]]) -> int:
    return sum(estimate_tokens(m["content"]) for m in messages)


def counter(gguf: str | None):
    """The model's own token count of chat messages, or None without --gguf."""
    if not gguf:
        return None
    from gemma_review.backends.embedded import EmbeddedBackend
    from gemma_review.config import Settings

    backend = EmbeddedBackend(Settings(backend="embedded", model_file=gguf, num_ctx=4096))
    return backend


def main() -> int:
    gguf = sys.argv[sys.argv.index("--gguf") + 1] if "--gguf" in sys.argv else None
    backend = counter(gguf)
    decisions = store()
    labels = tomllib.loads((REPO / "samples" / "labels.toml").read_text(encoding="utf-8"))["samples"]
    print(f"{len(decisions.records)} dismissals in the store; budget {vd.EXAMPLE_BUDGET} tokens, at most {vd.MAX_EXAMPLES}\n")
    real = " | added (model's tokenizer) |" if backend else " |"
    print("| file | prompt tokens | examples | added tokens | added | prefix identical" + real)
    print("|---|---:|---:|---:|---:|---|" + ("---:|" if backend else ""))
    real_added = []
    added_all = []
    for s in labels:
        path = s["file"]
        lines = split_lines((REPO / "samples" / path).read_text(encoding="utf-8"))
        unit = Unit(path, language_of(path), 1, len(lines), tuple(lines), frozenset(range(1, len(lines) + 1)), whole_file=True)
        block = vd.examples_block(decisions, path, CATEGORIES)
        plain = request_messages(Request([unit]), GUIDELINES)
        learned = request_messages(Request([unit]), GUIDELINES, None, block)
        head = f"Project review guidelines (follow them):\n{GUIDELINES}\n\n"
        same = plain[0] == learned[0] and learned[1]["content"].startswith(head) and plain[1]["content"].startswith(head)
        added = tokens(learned) - tokens(plain)
        added_all.append(added)
        n = block.count("\n") - 1 if block else 0
        cell = ""
        if backend is not None:
            counted = backend.count_tokens(learned) - backend.count_tokens(plain)
            real_added.append(counted)
            cell = f" {counted} |"
        print(f"| {path} | {tokens(plain)} | {n} | {added} | {100 * added / tokens(plain):.1f} % | {'yes' if same else 'NO'} |{cell}")
    print(f"\nadded per request: mean {sum(added_all) / len(added_all):.0f}, max {max(added_all)} tokens (estimate)")
    if real_added:
        print(f"added per request by {Path(gguf or '').name}'s tokenizer: mean {sum(real_added) / len(real_added):.0f}, "
              f"max {max(real_added)} tokens")
        backend.close()
    long = Decisions([Decision(f"{i:016x}", "a.py", "bug", "Long title " * 30, "code " * 300, "dismissed", "reason " * 200)
                      for i in range(20)])
    worst = vd.examples_block(long, "a.py", CATEGORIES)
    print(f"worst case (20 dismissals with very long titles, code and reasons): "
          f"{worst.count(chr(10)) - 1} carried, {estimate_tokens(worst)} tokens (budget {vd.EXAMPLE_BUDGET})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
