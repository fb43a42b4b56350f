"""``gemma-review bench`` against the fake Ollama server and the real model."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from io import StringIO
from pathlib import Path
from typing import Any

import pytest

from gemma_review.bench import (
    Label, Row, Sample, Score, TableWriter, duration, model_settings, render_markdown, sample_line, score, time_left,
)
from gemma_review.cli import main
from gemma_review.config import Settings
from gemma_review.errors import ConfigError
from gemma_review.findings import Finding, Fix
from tests.fake_ollama import FakeOllama, Reply, last_user_text, numbered_lines
from tests.helpers import SAMPLES, finding, subset

LABELS = tomllib.loads((SAMPLES / "labels.toml").read_text())["samples"]
N_FILES = len(LABELS)
N_CLEAN = sum(1 for s in LABELS if s.get("clean"))
N_LABELLED = sum(len(s.get("findings", [])) for s in LABELS)
N_FIXES = sum(1 for s in LABELS for f in s.get("findings", []) if f.get("suggested_code", "").strip())


@pytest.fixture(autouse=True)
def _work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def bench(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["bench", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def style_nitpick(body: dict[str, Any]) -> Reply:
    """A bad reviewer: one style complaint on the first code line of every unit, no bugs."""
    first = next((n, text) for n, text in numbered_lines(last_user_text(body)) if text.strip())
    finding = {"line": first[0], "end_line": first[0], "severity": "warning", "category": "style",
               "title": "Reformat this line", "explanation": "It could look nicer.",
               "existing_code": first[1], "suggested_code": "", "confidence": 0.9}
    return Reply(text=json.dumps({"findings": [finding]}))


def test_oracle_scores_perfectly_and_a_bad_model_differs(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOllama() as fake:
        oracle = fake.oracle
        fake.set_reply(lambda body: style_nitpick(body) if body["model"] == "gemma4:e2b" else oracle(body))
        code, out, err = bench(capsys, "--host", fake.url, "--models", "gemma4:e4b,gemma4:e2b", "--format", "json", "--all")
        asked = [r["model"] for r in fake.requests if r.get("messages")]
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["files"], doc["clean_files"], doc["labelled_findings"]) == (N_FILES, N_CLEAN, N_LABELLED)
    good, bad = doc["models"]
    # Every sample reviewed whole by each model, the cache off: one request per file per model.
    assert asked == ["gemma4:e4b"] * N_FILES + ["gemma4:e2b"] * N_FILES
    assert good["model"] == "gemma4:e4b" and good["backend"] == "ollama"
    assert (good["bugs_found"], good["labelled"], good["recall"]) == (N_LABELLED, N_LABELLED, 1.0)
    assert good["false_positives"] == 0
    assert good["fixes_valid"] == good["fixes_suggested"] == N_FIXES > 0
    assert good["time_to_first_finding"] is not None and good["time_to_first_finding"] <= good["wall_seconds"]
    assert good["gpu_memory_bytes"] == 2_400_000_000  # what the fake's /api/ps reports for a 4B model
    assert good["decode_tokens_per_second"] > 0 and good["prefill_tokens_per_second"] > 0
    assert good["requests"] == N_FILES and good["notes"] == []

    assert bad["model"] == "gemma4:e2b"
    assert (bad["bugs_found"], bad["recall"]) == (0, 0.0)
    assert (bad["false_positives"], bad["false_positives_clean"]) == (N_FILES, N_CLEAN)
    assert (bad["fixes_valid"], bad["fixes_suggested"]) == (0, 0)
    assert bad["gpu_memory_bytes"] == 1_200_000_000
    # Quality figures: precision, clean files flagged, raw vs kept, per category/severity/confidence.
    assert (good["precision"], good["clean_files_flagged"]) == (1.0, 0)
    assert good["raw_findings"] == good["kept_findings"] == N_LABELLED and good["dropped"] == {}
    assert good["by_category"]["bug"]["recall"] == 1.0 and "style" not in good["by_category"]
    assert sum(b["findings"] for b in good["by_confidence"]) == N_LABELLED
    assert (bad["precision"], bad["clean_files_flagged"]) == (0.0, N_CLEAN)
    assert bad["by_category"]["style"] == {
        "labelled": 0, "found": 0, "recall": None, "findings": N_FILES, "matched": 0, "precision": 0.0,
        "false_positives": N_FILES, "clean_files_flagged": N_CLEAN, "clean_files": N_CLEAN}
    # The severity limit (style is at most info) applies in bench as in a review.
    assert bad["by_severity"] == {"info": {"findings": N_FILES, "matched": 0, "precision": 0.0},
                                  "warning": {"findings": 0, "matched": 0, "precision": None},
                                  "error": {"findings": 0, "matched": 0, "precision": None}}
    assert [b["findings"] for b in bad["by_confidence"]] == [0, 0, 0, 0, 0, N_FILES]  # all at 0.9
    lines = err.splitlines()
    assert lines[0] == f"bench: gemma4:e4b: loading, then reviewing {N_FILES} samples"
    # One line per sample as it finishes, then the model's total.
    per_sample = lines[1 : 1 + N_FILES]
    # Each but the last with the time this model still needs, at its pace so far.
    pattern = r"bench: gemma4:e4b: \[(\d+)/(\d+)\] (\S+): \d+ findings?, \d+\.\d s(, about \d+ s left)?$"
    matches = [re.match(pattern, ln) for ln in per_sample]
    assert [m.groups()[:3] for m in matches] == [  # type: ignore[union-attr]
        (str(i), str(N_FILES), s["file"]) for i, s in enumerate(LABELS, 1)]
    assert [m.group(4) is not None for m in matches] == [True] * (N_FILES - 1) + [False]  # type: ignore[union-attr]
    assert re.fullmatch(r"bench: gemma4:e4b: \d+ samples, \d+ requests in \d+\.\d s", lines[1 + N_FILES])


def test_markdown_table_and_default_model(capsys: pytest.CaptureFixture[str], fake_ollama: FakeOllama) -> None:
    code, out, err = bench(capsys, "--host", fake_ollama.url, "--all")
    assert code == 0, err
    lines = out.splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == [
        "model", "decode tok/s", "prefill tok/s", "first finding", "GPU memory",
        "bugs found", "precision", "false positives", "clean files flagged", "raw / kept", "valid fixes", "wall time"]
    assert re.fullmatch(r"\|(-+\|){12}", lines[1])
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[0] == "gemma4:e4b"  # the configured model when --models is not given
    assert re.fullmatch(r"\d+\.\d", cells[1]) and re.fullmatch(r"\d+\.\d", cells[2])
    assert re.fullmatch(r"\d+\.\d\d s", cells[3]) and cells[4] == "2.2 GiB"
    assert cells[5:11] == [f"{N_LABELLED}/{N_LABELLED} (100%)", f"{N_LABELLED}/{N_LABELLED} (100%)", "0",
                           f"0/{N_CLEAN}", f"{N_LABELLED} / {N_LABELLED}", f"{N_FIXES}/{N_FIXES}"]
    assert re.fullmatch(r"\d+\.\d s", cells[11])
    assert lines[3] == "" and lines[4].startswith(f"{N_FILES} samples ({N_CLEAN} clean), {N_LABELLED} labelled findings")


def test_samples_subset_and_plot(capsys: pytest.CaptureFixture[str], fake_ollama: FakeOllama, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    folder = subset(tmp_path / "few", ["streak.py", "slugify.py"])
    chart = tmp_path / "bench.png"
    code, out, err = bench(capsys, "--host", fake_ollama.url, "--samples", str(folder), "--models",
                           "gemma4:e2b,gemma4:e4b", "--format", "json", "--plot", str(chart))
    assert code == 0, err
    doc = json.loads(out)
    assert doc["samples"] == str(folder.resolve()) and (doc["files"], doc["labelled_findings"]) == (2, 1)
    assert [(m["model"], m["bugs_found"], m["false_positives"], m["requests"]) for m in doc["models"]] == [
        ("gemma4:e2b", 1, 0, 2), ("gemma4:e4b", 1, 0, 2)]
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"bench: chart written to {chart}" in err


def test_plot_without_matplotlib_fails_before_reviewing(
    capsys: pytest.CaptureFixture[str], fake_ollama: FakeOllama, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    code, out, err = bench(capsys, "--host", fake_ollama.url, "--plot", "bench.png")
    assert (code, out) == (2, "")
    assert err == "gemma-review: error: --plot needs matplotlib: pip install 'gemma-review[plot]'\n"
    assert fake_ollama.requests == []


def test_a_model_that_is_not_pulled_stops_the_bench_before_any_review(
    capsys: pytest.CaptureFixture[str], fake_ollama: FakeOllama
) -> None:
    code, out, err = bench(capsys, "--host", fake_ollama.url, "--models", "gemma4:e2b,gemma4:31b")
    assert (code, out) == (3, "")
    assert err == "gemma-review: error: model 'gemma4:31b' is not pulled; run `ollama pull gemma4:31b`\n"
    assert fake_ollama.requests == []


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: None, "no samples folder at {d}; pass --samples DIR (a folder with labels.toml)"),
        (lambda d: d.mkdir(), "{d} has no labels.toml; bench needs labelled samples"),
        (lambda d: (d.mkdir(), (d / "labels.toml").write_text('[[samples]]\nfile = "gone.py"\n')),
         "{d}/labels.toml: sample 1: {d}/gone.py does not exist"),
        (lambda d: (d.mkdir(), (d / "labels.toml").write_text("[[samples\n")), None),
        (lambda d: (d.mkdir(), (d / "labels.toml").write_text("# nothing\n")), "{d}/labels.toml lists no [[samples]]"),
        (lambda d: (d.mkdir(), (d / "a.py").write_text("x = 1\n"),
                    (d / "labels.toml").write_text('[[samples]]\nfile = "a.py"\nclean = true\n'
                                                   '[[samples.findings]]\nline = 1\ncategory = "bug"\n')),
         "{d}/labels.toml: sample 1 (a.py) is marked clean but has labelled findings"),
    ],
)
def test_bad_samples_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path, make: Any, message: str | None) -> None:
    folder = tmp_path / "s"
    make(folder)
    code, out, err = bench(capsys, "--host", "http://127.0.0.1:9", "--samples", str(folder))
    assert (code, out) == (2, "")
    if message is None:
        assert err.startswith(f"gemma-review: error: {folder}/labels.toml: invalid TOML: ")
    else:
        assert err == f"gemma-review: error: {message.format(d=folder)}\n"


def test_gguf_entry_needs_the_embedded_backend(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = bench(capsys, "--backend", "ollama", "--models", "a.gguf")
    assert (code, out) == (2, "")
    assert err == "gemma-review: error: a.gguf is a GGUF file: it runs only with --backend embedded (or auto)\n"


@pytest.mark.parametrize(
    "backend, entry, expect",
    [
        ("auto", "gemma4:e2b", ("auto", "gemma4:e2b", None)),
        ("auto", "models/e2b.gguf", ("embedded", "gemma4:e4b", "models/e2b.gguf")),
        ("embedded", "x.GGUF", ("embedded", "gemma4:e4b", "x.GGUF")),
    ],
)
def test_model_settings(backend: str, entry: str, expect: tuple[str, str, str | None]) -> None:
    s = model_settings(Settings(backend=backend), entry)
    assert (s.backend, s.model, s.model_file) == expect and s.cache is False


def test_model_settings_refuses_gguf_on_a_server() -> None:
    with pytest.raises(ConfigError):
        model_settings(Settings(backend="openai"), "x.gguf")


SAMPLESET = [
    Sample("a.py", Path("a.py"), False, [Label(10, 12, "bug", "b1"), Label(20, 20, "security", "s1")]),
    Sample("b.py", Path("b.py"), True, []),
]


@pytest.mark.parametrize(
    "findings, expect",
    [
        ([], (2, 0, 0, 0, 0, 0)),
        ([finding(12, 14, path="a.py", category="bug")], (2, 1, 0, 0, 0, 0)),  # overlap on one line is enough
        ([finding(13, 14, path="a.py", category="bug")], (2, 0, 0, 1, 0, 0)),  # next to it is not
        ([finding(10, 10, path="a.py", category="style")], (2, 0, 0, 1, 0, 0)),  # right lines, wrong category
        ([finding(10, 12, path="b.py", category="bug")], (2, 0, 1, 0, 0, 0)),  # same lines in another file
        ([finding(10, 20, path="a.py", category="bug"), finding(20, 20, path="a.py", category="security")], (2, 2, 0, 0, 0, 0)),
        ([finding(11, 11, path="a.py", category="bug", suggested_code="fixed", fix=Fix(11, 11, "fixed", "h")), finding(30, 30, path="a.py", category="bug", suggested_code="broken(")],
         (2, 1, 0, 1, 1, 2)),
    ],
)
def test_score(findings: list[Finding], expect: tuple[int, ...]) -> None:
    s = score(SAMPLESET, findings)
    assert (s.labelled, s.found, s.fp_clean, s.fp_unlabelled, s.fixes_valid, s.fixes_suggested) == expect
    assert s.recall == s.found / 2 and s.false_positives == s.fp_clean + s.fp_unlabelled


def test_markdown_for_missing_figures() -> None:
    row = Row("m", "embedded", Score(labelled=0), 65.04, 130.0, None, None, None, 2.5, 2.0, 1.0, 10, 5, 1, 0)
    out = render_markdown([row], [Sample("c.py", Path("c.py"), True, [])])
    cells = [c.strip() for c in out.splitlines()[2].strip("|").split("|")]
    assert cells == ["m", "65.0", "130.0", "none", "n/a", "n/a", "n/a", "0", "0/0", "0 / 0", "0/0", "2.5 s"]



LONG_NAME = "registry.example.com/reviewers/gemma4-code-review-finetune:e4b-q8_0"


def pipes(table: list[str]) -> set[tuple[int, ...]]:
    """Where the column separators are, line by line: one position set when the table is aligned."""
    return {tuple(i for i, c in enumerate(line) if c == "|") for line in table}


def test_markdown_table_fits_a_long_model_name(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeOllama(models=("gemma4:e4b", LONG_NAME)) as fake:
        code, out, err = bench(capsys, "--host", fake.url, "--models", f"gemma4:e4b,{LONG_NAME}",
                               "--only", "streak.py,tags.py")
    assert code == 0, err
    table = [line for line in out.splitlines() if line.startswith("|")]
    assert len(table) == 4 and [c.strip() for c in table[3].strip("|").split("|")][0] == LONG_NAME
    assert len(pipes(table)) == 1, "\n".join(table)
    assert out.splitlines()[4] == ""  # one table: the long name was known before the first row


def row_with(model: str, findings: int = 0, wall: float = 2.5) -> Row:
    return Row(model, "ollama", Score(labelled=2, found=1, findings=findings, matched=min(findings, 1)),
               65.04, 130.0, 0.5, None, None, wall, 2.0, 1.0, 10, 5, 1, findings, raw_findings=findings)


def test_every_cell_fits_its_column() -> None:
    rows = [row_with("m"), row_with(LONG_NAME, findings=12345, wall=123456.7)]
    table = render_markdown(rows, SAMPLESET).split("\n\n")[0].splitlines()
    assert len(table) == 4 and len(pipes(table)) == 1, "\n".join(table)


def test_streamed_table_starts_afresh_when_a_later_row_is_wider() -> None:
    out = StringIO()
    writer = TableWriter(out, ["m", "n"], SAMPLESET)
    writer.write(row_with("m", findings=1))
    writer.write(row_with("n", findings=2))  # fits: same table
    writer.write(row_with("n", findings=123456789))  # more findings than any column was made for
    first, second = out.getvalue().rstrip("\n").split("\n\n")
    assert len(first.splitlines()) == 4 and len(pipes(first.splitlines())) == 1
    assert len(second.splitlines()) == 3 and len(pipes(second.splitlines())) == 1
    assert second.splitlines()[0].startswith("| model ") and "123456789" in second.splitlines()[2]



def test_time_left_is_the_pace_so_far_times_the_samples_left() -> None:
    clock = [100.0]  # a fake clock: the run starts at 100 s
    start = clock[0]
    assert time_left(clock[0] - start, 0, 4) is None  # nothing to go on before the first sample
    clock[0] += 30.0  # the first sample took 30 s
    assert time_left(clock[0] - start, 1, 4) == 90.0
    clock[0] += 10.0  # the second only 10 s: 20 s a sample so far
    assert time_left(clock[0] - start, 2, 4) == 40.0
    clock[0] += 20.0
    assert time_left(clock[0] - start, 4, 4) is None  # done: no estimate


@pytest.mark.parametrize("seconds, text", [(0.4, "0 s"), (42.4, "42 s"), (59.6, "1 min 00 s"), (185, "3 min 05 s"),
                                           (3599.6, "1 h 00 min"), (4020, "1 h 07 min")])
def test_duration(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_sample_line_says_the_time_left_when_there_is_an_estimate() -> None:
    assert sample_line("m", 1, 3, "a.py", 1, 2.04, 4.08) == "bench: m: [1/3] a.py: 1 finding, 2.0 s, about 4 s left\n"
    assert sample_line("m", 3, 3, "c.go", 2, 75.0, None) == "bench: m: [3/3] c.go: 2 findings, 75.0 s\n"


# ---------------------------------------------------------------------------- real model


@pytest.mark.real_model
def test_bench_on_the_real_model(capsys: pytest.CaptureFixture[str], smoke_gguf: Path, tmp_path: Path) -> None:
    folder = subset(tmp_path / "two", ["streak.py", "escape.js"])
    code, out, err = bench(capsys, "--backend", "embedded", "--model-file", str(smoke_gguf), "--samples", str(folder),
                           "--num-ctx", "2048", "--num-predict", "32", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["files"], doc["clean_files"], doc["labelled_findings"]) == (2, 1, 1)
    [row] = doc["models"]
    assert (row["model"], row["backend"], row["requests"], row["labelled"]) == (smoke_gguf.name, "embedded", 2, 1)
    assert row["decode_tokens_per_second"] > 0 and row["prefill_tokens_per_second"] > 0
    assert row["prompt_tokens"] > 0 and 0 < row["output_tokens"] <= 2 * 32
    assert row["time_to_first_token"] is not None and row["model_seconds"] <= row["wall_seconds"]
    assert row["gpu_memory_bytes"] is None and row["load_seconds"] is not None
    assert row["bugs_found"] in (0, 1) and row["false_positives"] <= row["findings"]


def test_confidence_floor_is_applied_when_scoring_and_buckets_show_all(
    capsys: pytest.CaptureFixture[str], fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text("min_confidence = 0.6\n")
    oracle = fake_ollama.oracle

    def unsure(body: dict) -> Reply:
        reply = oracle(body)
        doc = json.loads(reply.text if isinstance(reply, Reply) else reply)
        for f in doc["findings"]:
            f["confidence"] = 0.55
        return Reply(text=json.dumps(doc))

    fake_ollama.set_reply(unsure)
    code, out, err = bench(capsys, "--host", fake_ollama.url, "--format", "json", "--config", str(config),
                           "--only", "streak.py,tags.py,slugify.py")
    assert code == 0, err
    (row,) = json.loads(out)["models"]
    assert row["bugs_found"] == 0 and row["kept_findings"] == 0
    assert row["dropped"] == {"below confidence": 2} and row["raw_findings"] == 2
    bucket = next(b for b in row["by_confidence"] if b["from"] == 0.5)
    assert (bucket["findings"], bucket["matched"], bucket["precision"]) == (2, 2, 1.0)


def test_only_names_unknown_sample(capsys: pytest.CaptureFixture[str], fake_ollama: FakeOllama) -> None:
    code, out, err = bench(capsys, "--host", fake_ollama.url, "--only", "nope.py")
    assert code == 2 and "--only names nope.py" in err and err.count("\n") == 1


def test_verify_with_and_without(capsys: pytest.CaptureFixture[str], fake_ollama: FakeOllama) -> None:
    oracle = fake_ollama.oracle

    def respond(body: dict) -> Reply | str:
        if body["messages"][0]["content"].startswith("You check one finding"):
            return json.dumps({"confirmed": "streak" in body["messages"][1]["content"], "reason": "r"})
        return oracle(body)

    fake_ollama.set_reply(respond)
    code, out, err = bench(capsys, "--host", fake_ollama.url, "--format", "json", "--verify",
                           "--only", "streak.py,tags.py")
    assert code == 0, err
    (row,) = json.loads(out)["models"]
    v = row["verify"]
    assert (v["asked"], v["confirmed"], v["withdrawn"]) == (2, 1, 1)
    assert v["without"]["recall"] == 1.0 and v["with"]["recall"] == 0.5
    assert v["prompt_tokens"] > 0 and v["output_tokens"] > 0


def test_default_is_a_quick_subset_chosen_by_size_and_variety(capsys: pytest.CaptureFixture[str], fake_ollama: FakeOllama) -> None:
    """Issue 23: `bench` alone ends in about a minute on the demo model; `--all` runs every sample.
    The subset is the smallest clean sample and the smallest labelled one of other languages:
    sizes and suffixes only, never how a model does on them."""
    from gemma_review.bench import default_samples_dir, default_subset, load_samples

    samples = load_samples(default_samples_dir())
    subset = default_subset(samples)
    assert len(subset) == 3 and sum(s.clean for s in subset) == 1
    assert len({Path(s.file).suffix for s in subset}) == 3
    size = {s.file: s.path.stat().st_size for s in samples}
    clean = min((s for s in samples if s.clean), key=lambda s: size[s.file])
    assert clean in subset
    for s in subset:  # no smaller labelled sample of the same language was passed over
        if not s.clean:
            assert all(size[o.file] >= size[s.file] for o in samples
                       if not o.clean and Path(o.file).suffix == Path(s.file).suffix)
    code, out, err = bench(capsys, "--host", fake_ollama.url, "--format", "json")
    assert code == 0, err
    assert json.loads(out)["files"] == 3
    assert f"bench: 3 of {N_FILES} samples (" in err and "--all for every sample" in err
    code, out, err = bench(capsys, "--host", fake_ollama.url, "--format", "json", "--all")
    assert json.loads(out)["files"] == N_FILES and f"of {N_FILES} samples" not in err
