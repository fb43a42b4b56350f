"""Fix checks benchmark: how many corpus fixes are judged right, and what the checks cost.

Over tests/fix_corpus/cases.toml it prints the share of correct fixes that are offered
(goal 100 %) and of harmful fixes that are refused (goal 100 %). Then it times
``validate_fix`` (re-indent + every check) for each Python corpus suggestion anchored in a
300-line Python file: "first fix in a file" with every per-text cache emptied (the cost
of the first finding of a review), and "later fixes" with the file's own analysis cached.

    python benchmarks/fixes.py [--repeat 20] [--lines 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review import fix_checks, python_checks  # noqa: E402
from gemma_review.fixes import validate_fix  # noqa: E402
from gemma_review.textfile import split_lines  # noqa: E402
from tests.test_fix_corpus import CASES, CORPUS, decide  # noqa: E402


def big_python_file(lines: int) -> str:
    """inventory.py followed by renamed copies of its code until it has ``lines`` lines."""
    base = (CORPUS / "inventory.py").read_text(encoding="utf-8")
    body = base.split("\n\n\n", 1)[1]  # the code after the imports
    out = base.rstrip("\n").split("\n")
    n = 2
    while len(out) < lines:
        copy = body.replace("Inventory", f"Inventory{n}").replace("average_price", f"average_price_{n}")
        copy = copy.replace("merge_counts", f"merge_counts_{n}").replace("class Item", f"class Item{n}")
        out += ["", ""] + copy.rstrip("\n").split("\n")
        n += 1
    return "\n".join(out[:lines]).rstrip("\n") + "\n"


def first_span(text: str, existing: str) -> tuple[int, int]:
    """Lines of the first occurrence (the copies repeat the corpus file's code)."""
    lines, quote = split_lines(text), existing.split("\n")
    i = next(i for i in range(len(lines)) if lines[i : i + len(quote)] == quote)
    return i + 1, i + len(quote)


def clear_caches() -> None:
    for fn in (python_checks._report, python_checks._parse, python_checks._before_part, fix_checks.tree_of, fix_checks._errors):
        fn.cache_clear()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--lines", type=int, default=300)
    args = parser.parse_args()

    correct = [c for c in CASES if c["expect"] == "accept"]
    harmful = [c for c in CASES if c.get("harmful")]
    other = [c for c in CASES if c["expect"] == "reject" and not c.get("harmful")]
    accepted = sum(1 for c in correct if decide(c)[1].fix is not None)
    refused = sum(1 for c in harmful if decide(c)[1].fix is None)
    refused_other = sum(1 for c in other if decide(c)[1].fix is None)
    print(f"corpus: {len(CASES)} suggestions in {len({c['file'] for c in CASES})} languages")
    print(f"correct fixes accepted:  {accepted}/{len(correct)} = {100 * accepted / len(correct):.1f} %")
    print(f"harmful fixes rejected:  {refused}/{len(harmful)} = {100 * refused / len(harmful):.1f} %")
    print(f"no-op, quote-only and sloppy suggestions not offered: {refused_other}/{len(other)}")

    text = big_python_file(args.lines)
    n_lines = text.count("\n")
    python_cases = [c for c in CASES if c["file"].endswith(".py")]
    spans = [(first_span(text, c["existing"]), c["suggested"]) for c in python_cases]
    validate_fix("big.py", text, *spans[0][0], spans[0][1])  # imports and grammars loaded once
    # Wall time and this process's CPU time: on a shared machine the CPU time is what the
    # checks cost; wall time adds waiting for a core.
    timings: dict[str, list[tuple[float, float]]] = {"first fix in a file": [], "later fixes": []}
    for _ in range(args.repeat):
        for (start, end), suggested in spans:
            clear_caches()
            for label in ("first fix in a file", "later fixes"):
                w0, c0 = time.perf_counter(), time.process_time()
                validate_fix("big.py", text, start, end, suggested)
                timings[label].append((time.perf_counter() - w0, time.process_time() - c0))
    for label, pairs in timings.items():
        for kind, values in (("CPU", [c * 1000 for _, c in pairs]), ("wall", [w * 1000 for w, _ in pairs])):
            print(
                f"check {kind} time per fix, {n_lines}-line Python file, {label}: "
                f"p50 {statistics.median(values):.1f} ms, p95 {percentile(values, 0.95):.1f} ms, "
                f"max {max(values):.1f} ms ({len(values)} runs)"
            )
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
