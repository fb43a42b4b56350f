"""Look-alike matching of the team's decisions: recall, wrong hides, and cost per finding.

1. The labelled pairs of ``tests/decisions_pairs.json`` (a decision and a later finding,
   ``same`` when the decision should hide it): recall on look-alikes (reworded titles,
   moved and re-indented code, a renamed file, lightly edited code) and the different
   problems wrongly hidden (other lines of the same function, the same code in another
   category, a copy in another file), per kind.
2. Matching cost against a store of 10,000 records (500 files x 20 records): findings
   that hit by fingerprint, by moved code, and that miss after the look-alike check of
   their file's records (the worst case), timed per finding.

    python benchmarks/decisions.py [RECORDS]
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review.decisions import Decision, Decisions  # noqa: E402
from gemma_review.findings import Finding, fingerprint  # noqa: E402

PAIRS = REPO / "tests" / "decisions_pairs.json"


def finding(path: str, category: str, title: str, code: str) -> Finding:
    return Finding(path, 1, 1, 1, 1, "warning", category, title, "", code, "", 0.9,
                   fingerprint=fingerprint(path, category, code.split("\n")))


def decision(path: str, category: str, title: str, code: str) -> Decision:
    return Decision(fingerprint(path, category, code.split("\n")), path, category, title, code, "dismissed", "r")


def score_pairs(pairs: list[dict]) -> dict[str, Counter[str]]:
    """kind -> Counter(total, matched) over the labelled pairs."""
    out: dict[str, Counter[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for p in pairs:
            d, f = p["decision"], p["finding"]
            if p.get("old_path_exists", True):
                (root / d["path"]).parent.mkdir(parents=True, exist_ok=True)
                (root / d["path"]).write_text(d["code"], encoding="utf-8")
            store = Decisions([decision(**d)], root=root)
            hit = store.match(finding(**f)) is not None
            c = out.setdefault(p["kind"], Counter())
            c["total"] += 1
            c["matched"] += hit
            if hit != p["same"]:
                c["wrong"] += 1
                print(f"  {'missed' if p['same'] else 'WRONG HIDE'}: {p['id']}: {f['title']!r} vs {d['title']!r}")
            for leftover in root.iterdir():
                if leftover.is_file():
                    leftover.unlink()
    return out


def cost(records: int, rounds: int = 3) -> dict[str, float]:
    """Microseconds per match against ``records`` records, by kind of finding."""
    rng = random.Random(7)
    words = "data items user value result index count total cache state query".split()
    per_file = 20
    recs, findings = [], {"fingerprint hit": [], "moved code": [], "miss (look-alike checked)": []}
    for i in range(records):
        path = f"src/pkg{i // per_file // 50}/module_{i // per_file}.py"
        a, b = rng.sample(words, 2)
        code = f"    {a}_{i} = compute_{b}({a}, {b}[{i % 7}])\n    return {a}_{i} + {i}"
        title = f"{a.capitalize()} {b} is computed twice for {words[i % len(words)]}"
        recs.append(decision(path, "bug", title, code))
        if i % 10 == 0:
            findings["fingerprint hit"].append(finding(path, "bug", title, code))
            findings["moved code"].append(finding(path, "bug", "Reworded: " + title, "        " + code.replace("\n", "\n    ")))
            findings["miss (look-alike checked)"].append(finding(path, "bug", f"Handle {b} when {a} is None",
                                                                 f"    if {a} is None:\n        return {b}_{i * 3}"))
    store = Decisions(recs, root=None)
    out = {}
    for kind, fs in findings.items():
        best = float("inf")
        for _ in range(rounds):
            t = time.perf_counter()
            hits = sum(store.match(f) is not None for f in fs)
            best = min(best, (time.perf_counter() - t) / len(fs))
        expect = kind != "miss (look-alike checked)"
        assert (hits == len(fs)) if expect else (hits == 0), (kind, hits)
        out[kind] = best * 1e6
    return out


def main() -> int:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    pairs = json.loads(PAIRS.read_text(encoding="utf-8"))["pairs"]
    print(f"labelled pairs: {PAIRS.relative_to(REPO)} ({len(pairs)} pairs)")
    scores = score_pairs(pairs)
    print("| kind | pairs | matched | should match |")
    print("|---|---:|---:|---|")
    for kind, c in sorted(scores.items()):
        same = next(p["same"] for p in pairs if p["kind"] == kind)
        print(f"| {kind} | {c['total']} | {c['matched']} | {'yes' if same else 'no'} |")
    alike = [p for p in pairs if p["same"]]
    matched = sum(scores[k]["matched"] for k in scores if next(p["same"] for p in pairs if p["kind"] == k))
    wrong = sum(scores[k]["matched"] for k in scores if not next(p["same"] for p in pairs if p["kind"] == k))
    different = len(pairs) - len(alike)
    print(f"recall on look-alikes: {matched}/{len(alike)} = {matched / len(alike):.1%}")
    print(f"different problems wrongly hidden: {wrong}/{different}")
    t = time.perf_counter()
    timings = cost(records)
    print(f"match cost against {records:,} records (index built in the load; best of 3 rounds):")
    for kind, us in timings.items():
        print(f"  {kind}: {us:.1f} us per finding")
    print(f"  worst: {max(timings.values()) / 1000:.3f} ms per finding (goal < 1 ms); median {statistics.median(timings.values()):.1f} us")
    _ = t
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
