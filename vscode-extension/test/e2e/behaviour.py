"""Does an edited copy of a labelled sample still behave as its label says?

    python behaviour.py SAMPLE_NAME EDITED_FILE

Runs the ``[samples.behaviour]`` cases of ``samples/labels.toml`` for SAMPLE_NAME (e.g.
``streak.py``) against the function in EDITED_FILE. For ``streak.py`` the cases have
repeated dates, so they pass only once the dates are deduplicated. Prints one line per
failing case and exits 1 when any fails, 0 when all pass.
"""

from __future__ import annotations

import importlib.util
import sys
from datetime import date
from pathlib import Path
from typing import Any

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

LABELS = Path(__file__).resolve().parents[3] / "samples" / "labels.toml"


def behaviour_of(sample: str) -> dict[str, Any]:
    data = tomllib.loads(LABELS.read_text(encoding="utf-8"))
    for entry in data.get("samples", []):
        if entry.get("file") == sample and "behaviour" in entry:
            return entry["behaviour"]
    raise SystemExit(f"behaviour.py: {LABELS} has no behaviour cases for {sample}")


def load_function(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location("edited_sample", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"behaviour.py: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    sample, edited = argv[0], Path(argv[1])
    behaviour = behaviour_of(sample)
    function = load_function(edited, behaviour["function"])
    failures = 0
    for case in behaviour["cases"]:
        events = [{"date": date.fromisoformat(day)} for day in case["dates"]]
        got = function(events)
        if got != case["expected"]:
            failures += 1
            print(f"{behaviour['function']}({case['dates']}) returned {got}, expected {case['expected']}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
