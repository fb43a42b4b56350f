"""The fake Ollama of the Python tests, answering refactor requests too, for the VS Code test.

The label oracle of ``tests.fake_ollama`` answers every request with findings. A refactor
request (its ``format`` schema asks for a ``replacement``) gets the rewrite a good model
would give of ``calculate_streak`` in ``samples/streak.py``, once the prompt shows that whole
function; any other refactor request gets an HTTP 500 naming what it was shown, so a wrong
selection fails the test loudly instead of quietly producing no edit.

    python vscode-extension/test/e2e/fake_model.py --port 0 [--tokens-per-second N]

prints ``listening on http://127.0.0.1:PORT`` and serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.fake_ollama import FakeOllama, Reply, last_user_text, numbered_lines, serve_until_signalled  # noqa: E402

# What the refactor of the whole function returns: one pass over the distinct days.
REFACTORED_STREAK = '''def calculate_streak(events: list[dict[str, date]]) -> int:
    """Return the longest run of consecutive days that have at least one event."""
    days = sorted({event["date"] for event in events})
    longest = 0
    streak = 0
    for index, day in enumerate(days):
        if index and day - days[index - 1] == timedelta(days=1):
            streak += 1
        else:
            streak = 1
        longest = max(longest, streak)
    return longest'''
REFACTOR_SUMMARY = "Iterate over the sorted distinct days, so repeated dates no longer reset the streak."


def is_refactor(body: dict[str, Any]) -> bool:
    schema = body.get("format")
    return isinstance(schema, dict) and "replacement" in (schema.get("properties") or {})


class Responder:
    """Refactor requests get the rewrite; everything else goes to the label oracle."""

    def __init__(self, fake: FakeOllama) -> None:
        self.oracle = fake.oracle

    def __call__(self, body: dict[str, Any]) -> Reply:
        if not is_refactor(body):
            return self.oracle(body)
        lines = [text for _, text in numbered_lines(last_user_text(body))]
        while lines and not lines[-1].strip():
            lines.pop()
        if lines and lines[0].startswith("def calculate_streak(") and lines[-1].strip() == "return longest":
            return Reply(text=json.dumps({"summary": REFACTOR_SUMMARY, "replacement": REFACTORED_STREAK}))
        shown = f"lines {lines[0]!r} .. {lines[-1]!r}" if lines else "no numbered lines"
        return Reply(status=500, error=f"fake model: refactor expects the whole calculate_streak function, got {shown}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--tokens-per-second", type=float, default=None, help="decode speed (default: no delay)")
    args = parser.parse_args(argv)

    fake = FakeOllama(host=args.host, port=args.port, tokens_per_second=args.tokens_per_second)
    fake.set_reply(Responder(fake))
    try:
        fake.start()
    except OSError as exc:
        print(f"fake_model: {exc}", file=sys.stderr)
        return 2
    return serve_until_signalled(fake)


if __name__ == "__main__":
    sys.exit(main())
