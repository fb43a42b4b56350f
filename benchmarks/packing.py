"""Prompt tokens of diff-scoped vs whole-file review over a real repository's history.

For each of the last N non-merge commits of a git repository, the commit's changes are
planned exactly as ``gemma-review review --base <parent> --head <commit>`` plans them
(intake, default excludes, units, packing) without calling a model, and the prompt
tokens (the tool's own estimate, the one it budgets with) are added up for:

- diff-scoped review (what the tool sends for the commit),
- whole-file review of the same changed files (``gemma-review review FILES``),
- one request per unit (how the tool sent them before packing),
- a plain-diff reviewer: ``git diff -U3`` of the commit plus short instructions.

Also printed: the share of commits where diff-scoped is larger than whole-file, whether
every changed line is inside some unit, and requests per commit.

    git clone https://github.com/pallets/click /tmp/click
    python benchmarks/packing.py /tmp/click [--commits 200] [--plain-sample 30]

A bare repository works too (``--git-dir`` semantics: pass the ``.git`` or bare folder).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gemma_review.config import Settings  # noqa: E402
from gemma_review.engine import ReviewEngine  # noqa: E402
from gemma_review.intake import FileChange, _resolve, parse_diff  # noqa: E402
from gemma_review.packing import Request, pack, request_messages  # noqa: E402
from gemma_review.prompt import review_messages  # noqa: E402
from gemma_review.tokens import estimate_tokens  # noqa: E402

# What a plain-diff reviewer sends besides the diff: a short instruction, about 60 words.
PLAIN_INSTRUCTIONS = (
    "You are a code reviewer. Review the following unified diff. Report concrete bugs, security "
    "problems and performance issues in the added lines only, as a JSON list of objects with "
    "file, line, severity and message. Answer [] when there is nothing to report."
)


def git(git_dir: Path, *args: str) -> bytes:
    return subprocess.run(["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True).stdout


def git_dir_of(path: Path) -> Path:
    return path / ".git" if (path / ".git").exists() else path


def commits(git_dir: Path, n: int) -> list[tuple[str, str]]:
    out = git(git_dir, "log", "--no-merges", f"-{n}", "--format=%H %P", "HEAD").decode()
    pairs = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:  # root commits have no parent to diff against
            pairs.append((parts[1], parts[0]))
    return pairs


def changes_of(git_dir: Path, parent: str, commit: str) -> list[FileChange]:
    diff = git(git_dir, "diff", "-M", "--no-color", "--no-ext-diff", "--src-prefix=a/", "--dst-prefix=b/",
               "-U0", parent, commit).decode("utf-8", "surrogateescape")

    def read(path: str) -> bytes | None:
        try:
            return git(git_dir, "show", f"{commit}:{path}")
        except subprocess.CalledProcessError:
            return None

    return _resolve(parse_diff(diff), read, None)


def tokens(requests: list[Request], eng: ReviewEngine, sizes: dict[str, int]) -> int:
    return sum(estimate_tokens(m["content"]) for r in requests for m in request_messages(r, eng.guidelines, sizes))


def plan(eng: ReviewEngine, changes: list[FileChange]) -> tuple[list[Request], int, int, bool]:
    """(requests, tokens, tokens one request per unit, every changed line inside a unit)."""
    units = []
    covered = True
    sizes: dict[str, int] = {}
    for c in changes:
        if c.skip_reason or eng.selected(c):
            continue
        us = eng.units_for(c)
        assert c.text is not None
        sizes[c.path] = len(c.text.split("\n"))
        want = c.changed_lines()
        if want is not None:
            n = len(c.text.splitlines())
            want = {x for x in want if 1 <= x <= n and c.text.splitlines()[x - 1].strip()}
            got = {x for u in us for x in u.changed}
            covered = covered and want <= got
        units.extend(us)
    requests = pack(units, eng.unit_token_budget(), estimate_tokens, sizes)
    one_each = sum(estimate_tokens(m["content"]) for u in units for m in review_messages(u, eng.guidelines))
    return requests, tokens(requests, eng, sizes), one_each, covered


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo", type=Path, help="a clone of a git repository (or its .git / a bare repository)")
    ap.add_argument("--commits", type=int, default=200)
    ap.add_argument("--plain-sample", type=int, default=30, help="recent commits for the plain-diff comparison")
    args = ap.parse_args()
    git_dir = git_dir_of(args.repo)
    eng = ReviewEngine(Settings(cache=False), root=REPO / "benchmarks")  # no guidelines file there
    rows = []
    for parent, commit in commits(git_dir, args.commits):
        changes = changes_of(git_dir, parent, commit)
        diff_req, diff_tok, unpacked, covered = plan(eng, changes)
        whole = [FileChange(c.path, c.text, None) for c in changes if not c.skip_reason]
        whole_req, whole_tok, _, _ = plan(eng, whole)
        plain = git(git_dir, "diff", "--no-color", "--no-ext-diff", "-U3", parent, commit).decode("utf-8", "replace")
        plain_tok = estimate_tokens(PLAIN_INSTRUCTIONS) + estimate_tokens(plain)
        rows.append((commit[:10], diff_tok, whole_tok, unpacked, len(diff_req), len(whole_req), covered, plain_tok))
    reviewed = [r for r in rows if r[1] or r[2]]
    diff_total = sum(r[1] for r in reviewed)
    whole_total = sum(r[2] for r in reviewed)
    unpacked_total = sum(r[3] for r in reviewed)
    larger = [r for r in reviewed if r[1] > r[2]]
    print(f"repository: {args.repo}  commits: {len(rows)} non-merge ({len(reviewed)} with reviewable files)")
    print(f"prompt tokens, diff-scoped (packed):     {diff_total:>10,}")
    print(f"prompt tokens, one request per unit:     {unpacked_total:>10,}")
    print(f"prompt tokens, whole changed files:      {whole_total:>10,}")
    print(f"whole-file / diff-scoped:                {whole_total / max(diff_total, 1):10.2f}x")
    print(f"commits where diff-scoped > whole-file:  {len(larger)} of {len(reviewed)} "
          f"({100 * len(larger) / max(len(reviewed), 1):.1f} %)")
    print(f"every changed non-blank line in a unit:  {sum(r[6] for r in reviewed)} of {len(reviewed)} commits")
    req = [r[4] for r in reviewed]
    print(f"requests per commit, diff-scoped:        mean {statistics.mean(req):.2f}, median {statistics.median(req)}, max {max(req)}")
    wreq = [r[5] for r in reviewed]
    print(f"requests per commit, whole-file:         mean {statistics.mean(wreq):.2f}, median {statistics.median(wreq)}, max {max(wreq)}")
    recent = reviewed[: args.plain_sample]
    med_tool = statistics.median(r[1] for r in recent)
    med_plain = statistics.median(r[7] for r in recent)
    print(f"last {len(recent)} commits, median prompt tokens per commit: gemma-review {med_tool:,.0f}, "
          f"plain-diff reviewer {med_plain:,.0f} ({med_tool / max(med_plain, 1):.2f}x)")
    med_all_tool = statistics.median(r[1] for r in reviewed)
    med_all_plain = statistics.median(r[7] for r in reviewed)
    print(f"all {len(reviewed)} commits, median prompt tokens per commit: gemma-review {med_all_tool:,.0f}, "
          f"plain-diff reviewer {med_all_plain:,.0f} ({med_all_tool / max(med_all_plain, 1):.2f}x)")
    if larger:
        print("diff-scoped larger than whole-file in:", ", ".join(f"{r[0]} ({r[1]} > {r[2]})" for r in larger[:10]))


if __name__ == "__main__":
    main()
