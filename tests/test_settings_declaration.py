"""Each setting is declared once (gemma_review/config.py); everything else must agree with it.

The settings table in docs/configuration.md, the environment table, the CLI options, the
cache key and the VS Code manifest (vscode-extension/package.json) are checked against the
declarations here, so adding a setting is one declaration plus its use.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from gemma_review import settings_doc
from gemma_review.config import ENV_VARS, SPECS, Settings, load_settings
from gemma_review.errors import ConfigError
from gemma_review.options import OVERRIDE_FLAGS, SETTING_OPTIONS

REPO = Path(__file__).resolve().parent.parent
MANIFEST = REPO / "vscode-extension" / "package.json"
# Settings of the extension itself (how it starts the server), not of the reviewer.
EXTENSION_ONLY = {"gemma-review.path", "gemma-review.interpreter", "gemma-review.trace.server"}
JSON_TYPES = {
    "str": "string", "str | None": ["string", "null"], "bool": "boolean",
    "int": "integer", "float": "number", "list[str]": "array",
}


def test_the_docs_table_is_generated_from_the_declarations() -> None:
    current = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert current == settings_doc.with_table(current), (
        f"docs/configuration.md is out of date; run: {settings_doc.REGENERATE}"
    )


def test_the_readme_points_at_the_generated_table() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/configuration.md" in readme
    assert settings_doc.START not in readme  # one generated table, in docs/


def manifest_properties() -> dict[str, dict]:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))["contributes"]["configuration"]["properties"]


def test_the_vscode_manifest_contributes_exactly_the_editor_settings() -> None:
    declared = {spec.editor_key for spec in SPECS.values() if spec.editor_key}
    contributed = set(manifest_properties()) - EXTENSION_ONLY
    assert contributed == declared, (
        f"in package.json, not declared: {sorted(contributed - declared)}; "
        f"declared, not in package.json: {sorted(declared - contributed)}"
    )


@pytest.mark.parametrize("spec", [s for s in SPECS.values() if s.editor], ids=lambda s: s.name)
def test_each_manifest_setting_has_the_declared_type_default_and_values(spec) -> None:
    prop = manifest_properties()[spec.editor_key]
    assert prop["type"] == JSON_TYPES[spec.kind]
    assert prop["default"] == spec.default
    if spec.kind == "list[str]":
        assert prop["items"]["type"] == "string"
        assert prop["items"].get("enum") == (list(spec.choices) if spec.choices else None)
    else:
        assert prop.get("enum") == (list(spec.choices) if spec.choices else None)
    if spec.high is not None and "maximum" in prop:
        assert prop["maximum"] == spec.high


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=lambda s: s.name)
def test_every_declared_setting_reaches_every_table(spec) -> None:
    table = settings_doc.settings_table()
    assert f"| `{spec.name}` |" in table
    for var in spec.env:
        assert ENV_VARS[var] == spec.name and f"`{var}`" in table
    if spec.flag:
        assert spec.name in OVERRIDE_FLAGS and SETTING_OPTIONS[spec.name].flags == (spec.flag,)
    if spec.editor:
        assert spec.editor_key in manifest_properties()
    assert spec.help and "\n" not in spec.help


def _other_value(spec):
    """A valid value different from the default."""
    if spec.choices is not None and spec.kind == "list[str]":
        return [spec.choices[0]]
    if spec.choices is not None:
        return next(c for c in spec.choices if c != spec.default)
    if spec.kind in ("str", "str | None"):
        return "other"
    if spec.kind == "list[str]":
        return [] if spec.default else ["other"]
    if spec.kind == "bool":
        return not spec.default
    return spec.default + 1 if spec.kind == "int" else spec.default / 2


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=lambda s: s.name)
def test_the_cache_key_holds_exactly_the_settings_that_change_the_review(spec) -> None:
    base = Settings(**{spec.review_if: True}) if spec.review_if else Settings()
    changed = dataclasses.replace(base, **{spec.name: _other_value(spec)})
    assert (changed.review_key != base.review_key) == spec.review, spec.name
    if spec.review_if:  # fail_on changes the review only while verify is on
        off = dataclasses.replace(base, **{spec.review_if: False})
        assert dataclasses.replace(off, **{spec.name: _other_value(spec)}).review_key == off.review_key


def test_the_cache_key_is_the_one_it_was() -> None:
    key = Settings().review_key
    for name in ("model", "num_predict", "seed", "categories", "guidelines", "verify", "fail_on", "severity_limits"):
        assert f"{name}=" in key
    assert Settings(categories=list(reversed(Settings().categories))).review_key == key


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().timeout = 1.0  # type: ignore[misc]


# --- errors name the setting the way the user set it ----------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "proj" / ".git").mkdir(parents=True)
    return tmp_path / "proj"


def test_a_flag_error_names_the_flag(project: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(project, env={}, overrides={"max_parallel": 0})
    assert str(info.value) == "--jobs must be a whole number from 1 to 64, got 0"
    with pytest.raises(ConfigError, match=r"^--num-predict \(9000\) must be below 'num_ctx' \(8192\)$"):
        load_settings(project, env={}, overrides={"num_predict": 9000})


def test_an_env_error_names_the_variable(project: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(project, env={"GEMMA_REVIEW_TIMEOUT": "-1"})
    assert str(info.value) == "environment variable GEMMA_REVIEW_TIMEOUT must be a positive number of seconds up to 604800, got -1"


def test_a_file_error_names_the_key_as_written_and_the_file(project: Path) -> None:
    path = project / ".gemma-review.toml"
    path.write_text("maxParallel = 100\n")
    with pytest.raises(ConfigError) as info:
        load_settings(project, env={})
    assert str(info.value) == f"{path}: 'maxParallel' must be a whole number from 1 to 64, got 100"


def test_a_cross_setting_error_names_both_as_set(project: Path) -> None:
    (project / ".gemma-review.toml").write_text("num_ctx = 4096\n")
    with pytest.raises(ConfigError) as info:
        load_settings(project, env={}, overrides={"num_predict": 5000})
    assert str(info.value) == f"--num-predict (5000) must be below `num_ctx` in {project / '.gemma-review.toml'} (4096)"


def test_an_editor_error_names_the_editor_setting(project: Path) -> None:
    from gemma_review.config import editor_setting_name
    from gemma_review.lsp.options import parse

    with pytest.raises(ConfigError) as info:
        load_settings(project, env={}, overrides={"max_parallel": 0}, override_name=editor_setting_name)
    assert str(info.value) == "the editor setting gemma-review.maxParallel must be a whole number from 1 to 64, got 0"
    _, warnings = parse({"maxParallel": 0, "min_severity": "loud"}, "workspace/configuration")
    assert warnings == [
        "workspace/configuration: the editor setting gemma-review.maxParallel must be a whole number from 1 to 64, got 0; ignored",
        "workspace/configuration: the editor setting gemma-review.min_severity must be one of info, warning, error, got 'loud'; ignored",
    ]


def test_origins_record_how_each_setting_was_set(project: Path) -> None:
    (project / ".gemma-review.toml").write_text("numCtx = 4096\n")
    s = load_settings(project, env={"GEMMA_REVIEW_TIMEOUT": "5"}, overrides={"max_parallel": 2}).settings
    assert s.origins == {
        "num_ctx": f"`numCtx` in {project / '.gemma-review.toml'}",
        "timeout": "GEMMA_REVIEW_TIMEOUT",
        "max_parallel": "--jobs",
    }
