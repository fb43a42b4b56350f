"""Scaling curves: unit building and diff intake by file size, LSP remapping by document length.

Prints seconds per step so the curve's shape is visible (near-linear: 5 MB should take
about 5x the 1 MB time, not 25x).

- unit building: a generated Python module of 1, 2 and 5 MB, reviewed whole and with
  every 10th line changed (``units.build_units``, the path that took 32 s for 1 MB when
  it was quadratic);
- diff intake: the unified diff that adds that file (``intake.parse_diff`` + resolve)
  and an editor buffer against its HEAD text with scattered edits (``intake.from_buffer``);
- remapping: a whole-document ``didChange`` (how some clients send every keystroke) on
  2k, 6k and 20k-line documents with a finding every 20 lines: one edit in the middle,
  and a worst case with an edit every 50 lines (``diagnostics.remap_lines``; goal: 20k
  lines under 150 ms). Above ``REMAP_OFF_LOOP_LINES`` (5,000) the language server runs
  this in a worker thread, so the time shown delays those diagnostics, not the event loop.

    python benchmarks/scaling.py [--sizes-mb 1,2,5] [--lines 2000,6000,20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review.findings import Finding  # noqa: E402
from gemma_review.intake import FileChange, _resolve, from_buffer, parse_diff  # noqa: E402
from gemma_review.tokens import estimate_tokens  # noqa: E402
from gemma_review.units import build_units  # noqa: E402
from gemma_review.lsp import diagnostics  # noqa: E402


def python_module(target_bytes: int) -> str:
    """Functions and module-level data tables, like a large hand-plus-generated module."""
    out: list[str] = ['"""Generated for the benchmark."""', "", "import math", ""]
    size = 0
    i = 0
    while size < target_bytes:
        block = [
            "",
            f"def compute_{i}(values, scale={i % 7 + 1}):",
            f'    """Scale and sum values for report {i}."""',
            "    total = 0",
            "    for v in values:",
            f"        total += math.floor(v * scale) % {i % 89 + 3}",
            "    return total",
            "",
            f"TABLE_{i} = [",
            *[f"    ({i}, {k}, 'row-{i}-{k}', {k * 0.5})," for k in range(12)],
            "]",
        ]
        out += block
        size += sum(len(b) + 1 for b in block)
        i += 1
    return "\n".join(out) + "\n"


def timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    value = fn()
    return time.perf_counter() - t, value


def units_curve(sizes_mb: list[float]) -> None:
    print("unit building (build_units, max_unit_lines 200, 6000-token budget)")
    print(f"{'size':>8} {'lines':>9} {'whole file':>12} {'every 10th line':>16} {'units (whole/diff)':>20}")
    for mb in sizes_mb:
        text = python_module(int(mb * 1_000_000))
        n = text.count("\n")
        t_whole, whole = timed(lambda: build_units(FileChange("big.py", text, None), 200, 6000, estimate_tokens))
        changed = [(k, k) for k in range(1, n + 1, 10)]
        t_diff, diff = timed(lambda: build_units(FileChange("big.py", text, changed), 200, 6000, estimate_tokens))
        print(f"{mb:>6.1f}MB {n:>9,} {t_whole:>11.2f}s {t_diff:>15.2f}s {len(whole):>9,}/{len(diff):,}")


def intake_curve(sizes_mb: list[float]) -> None:
    print("diff intake")
    print(f"{'size':>8} {'parse+resolve new-file diff':>28} {'editor buffer vs HEAD':>22}")
    for mb in sizes_mb:
        text = python_module(int(mb * 1_000_000))
        lines = text.split("\n")[:-1]
        diff = "--- /dev/null\n+++ b/big.py\n@@ -0,0 +1,%d @@\n" % len(lines) + "".join(f"+{ln}\n" for ln in lines)
        data = text.encode()
        t_diff, _ = timed(lambda: _resolve(parse_diff(diff), lambda _p: data, None))
        edited = list(lines)
        for k in range(0, len(edited), 97):
            edited[k] = edited[k] + "  # edited"
        new_text = "\n".join(edited) + "\n"
        t_buf, _ = timed(lambda: from_buffer("big.py", new_text, text))
        print(f"{mb:>6.1f}MB {t_diff:>27.2f}s {t_buf:>21.2f}s")


def finding(line: int) -> Finding:
    return Finding("big.py", line, line, 1, 5, "warning", "bug", "t", "", "x", "", 0.9, fingerprint=str(line))


def remap_curve(counts: list[int]) -> None:
    print("LSP whole-document didChange remap (remap_lines), a finding every 20 lines")
    print(f"{'lines':>8} {'one edit in the middle':>24} {'an edit every 50 lines':>24} {'kept (one/many)':>16}")
    for n in counts:
        old = [f"    value_{k} = compute(value_{k - 1}, {k % 13})" for k in range(n)]
        one = old[: n // 2] + ["    inserted = 1", "    inserted = 2"] + old[n // 2 :]
        many = [ln + ("  # edited" if k % 50 == 0 else "") for k, ln in enumerate(old)]

        def items() -> list[diagnostics.LiveFinding]:
            return [diagnostics.live(finding(k + 1), old) for k in range(5, n, 20)]

        first, second = items(), items()  # built outside the timing: only the remap is measured
        t_one, kept_one = timed(lambda: diagnostics.remap_lines(first, old, one))
        t_many, kept_many = timed(lambda: diagnostics.remap_lines(second, old, many))
        print(f"{n:>8,} {1000 * t_one:>21.1f} ms {1000 * t_many:>21.1f} ms {len(kept_one):>7}/{len(kept_many)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mb", default="1,2,5")
    ap.add_argument("--lines", default="2000,6000,20000")
    args = ap.parse_args()
    sizes = [float(x) for x in args.sizes_mb.split(",")]
    units_curve(sizes)
    intake_curve(sizes)
    remap_curve([int(x) for x in args.lines.split(",")])


if __name__ == "__main__":
    main()
