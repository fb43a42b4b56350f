"""Settings: precedence, key styles, validation messages, hosts and the privacy check."""

from __future__ import annotations

from pathlib import Path

import pytest

from gemma_review.config import (
    DEFAULT_HOST,
    DEFAULT_MODEL,
    Settings,
    apply,
    check_privacy,
    is_loopback_host,
    load_settings,
    normalize_host,
    setting_names,
)
from gemma_review.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)  # the search for a config file stops at the repository root
    (root / "src" / "pkg").mkdir(parents=True)
    return root


def test_defaults(project: Path) -> None:
    loaded = load_settings(project, env={})
    assert loaded.settings == Settings()
    assert loaded.settings.model == DEFAULT_MODEL and loaded.settings.host == DEFAULT_HOST
    assert loaded.config_file is None
    assert loaded.root == project.resolve()


def test_precedence_defaults_file_env_overrides(project: Path) -> None:
    (project / ".gemma-review.toml").write_text(
        'model = "from-file"\nhost = "localhost:9000"\nmin_confidence = 0.7\nfail_on = "warning"\n'
    )
    start = project / "src" / "pkg"
    s = load_settings(start, env={}).settings
    assert (s.model, s.host, s.min_confidence, s.fail_on) == ("from-file", "http://localhost:9000", 0.7, "warning")

    env = {"OLLAMA_HOST": "127.0.0.1:1234", "GEMMA_REVIEW_MODEL": "from-env"}
    s = load_settings(start, env=env).settings
    assert (s.model, s.host, s.min_confidence) == ("from-env", "http://127.0.0.1:1234", 0.7)

    loaded = load_settings(start, env=env, overrides={"model": "from-flag", "min_confidence": 0.9, "host": None})
    s = loaded.settings
    assert (s.model, s.host, s.min_confidence, s.fail_on) == ("from-flag", "http://127.0.0.1:1234", 0.9, "warning")
    assert loaded.config_file == project / ".gemma-review.toml"
    assert loaded.root == project


@pytest.mark.parametrize(
    "value, host, local",
    [
        ("0.0.0.0", "http://0.0.0.0:11434", True),
        ("localhost:11434", "http://localhost:11434", True),
        ("http://x:1", "http://x:1", False),
        ("[::1]", "http://[::1]:11434", True),
    ],
)
def test_ollama_host_forms(project: Path, value: str, host: str, local: bool) -> None:
    s = load_settings(project, env={"OLLAMA_HOST": value}).settings
    assert s.host == host
    if local:
        check_privacy(s)
    else:
        with pytest.raises(ConfigError, match="allow_remote"):
            check_privacy(s)


def test_gemma_review_host_beats_ollama_host(project: Path) -> None:
    env = {"OLLAMA_HOST": "127.0.0.1:1", "GEMMA_REVIEW_HOST": "127.0.0.1:2"}
    assert load_settings(project, env=env).settings.host == "http://127.0.0.1:2"


def test_pyproject_section(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.gemma-review]\nmodel = "gemma4:e2b"\nmax-unit-lines = 80\n'
    )
    loaded = load_settings(project / "src", env={})
    assert loaded.settings.model == "gemma4:e2b" and loaded.settings.max_unit_lines == 80
    assert loaded.config_file == project / "pyproject.toml"


def test_pyproject_without_section_is_ignored(project: Path) -> None:
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load_settings(project, env={}).config_file is None


def test_own_file_beats_pyproject(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.gemma-review]\nmodel = "py"\n')
    (project / ".gemma-review.toml").write_text('model = "own"\n')
    assert load_settings(project, env={}).settings.model == "own"


def test_nearest_file_wins(project: Path) -> None:
    (project / ".gemma-review.toml").write_text('model = "outer"\n')
    (project / "src" / ".gemma-review.toml").write_text('model = "inner"\n')
    assert load_settings(project / "src" / "pkg", env={}).settings.model == "inner"


def test_search_stops_at_the_repository_root(project: Path) -> None:
    (project.parent / ".gemma-review.toml").write_text('model = "outside the repo"\n')
    assert load_settings(project / "src", env={}).settings.model == DEFAULT_MODEL


def test_explicit_config_file(project: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "elsewhere.toml"
    cfg.write_text('[tool.gemma-review]\nmodel = "explicit"\n')
    assert load_settings(project, env={}, config_file=cfg).settings.model == "explicit"
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(project, env={}, config_file=tmp_path / "missing.toml")


@pytest.mark.parametrize(
    "key, value, field, expected",
    [
        ("minConfidence", 0.8, "min_confidence", 0.8),
        ("maxUnitLines", 50, "max_unit_lines", 50),
        ("numCtx", 16384, "num_ctx", 16384),
        ("allowRemote", True, "allow_remote", True),
        ("failOn", "never", "fail_on", "never"),
        ("debounceMs", 300, "debounce_ms", 300),
        ("api-key-env", "MY_KEY", "api_key_env", "MY_KEY"),
        ("keep_alive", "5m", "keep_alive", "5m"),
        ("categories", "bug, security", "categories", ["bug", "security"]),
        ("categories", ["style"], "categories", ["style"]),
        ("cache", "off", "cache", False),
        ("allow_remote", "yes", "allow_remote", True),
        ("num_ctx", "4096", "num_ctx", 4096),
        ("timeout", "2.5", "timeout", 2.5),
        ("guidelines", None, "guidelines", None),
        ("exclude", ["*.min.js", "vendor/*"], "exclude", ["*.min.js", "vendor/*"]),
    ],
)
def test_key_styles_and_coercion(key: str, value: object, field: str, expected: object) -> None:
    assert getattr(apply(Settings(), {key: value}, "test"), field) == expected


@pytest.mark.parametrize(
    "values, names",
    [
        ({"min_confidence": "high"}, "min_confidence"),
        ({"min_confidence": 1.5}, "min_confidence"),
        ({"num_ctx": True}, "num_ctx"),
        ({"num_ctx": 0}, "num_ctx"),
        ({"num_predict": -5}, "num_predict"),
        ({"num_predict": 9000}, "num_predict"),  # must be below num_ctx
        ({"max_unit_lines": "many"}, "max_unit_lines"),
        ({"timeout": 0}, "timeout"),
        ({"fail_on": "fatal"}, "fail_on"),
        ({"min_severity": "critical"}, "min_severity"),
        ({"backend": "gpt"}, "backend"),
        ({"scope": "repo"}, "scope"),
        ({"trigger": "always"}, "trigger"),
        ({"categories": ["bug", "typo"]}, "typo"),
        ({"categories": [1, 2]}, "categories"),
        ({"allow_remote": "maybe"}, "allow_remote"),
        ({"model": ["a", "b"]}, "model"),
        ({"host": "ftp://x"}, "ftp://x"),
        ({"host": "localhost:port"}, "port"),
        ({"host": "  "}, "host"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_values_are_one_clear_line(values: dict, names: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply(Settings(), values, "cfg.toml")
    message = str(info.value)
    assert "\n" not in message
    assert names in message
    assert message.startswith("cfg.toml: ")


def test_type_errors_name_the_expected_kind() -> None:
    with pytest.raises(ConfigError, match=r"'num_ctx' must be a whole number, got True"):
        apply(Settings(), {"num_ctx": True}, "x")
    with pytest.raises(ConfigError, match=r"'allow_remote' must be true or false"):
        apply(Settings(), {"allow_remote": 3}, "x")
    with pytest.raises(ConfigError, match=r"'min_confidence' must be a number"):
        apply(Settings(), {"min_confidence": "x"}, "x")


def test_invalid_value_in_file_names_the_file(project: Path) -> None:
    (project / ".gemma-review.toml").write_text('min_confidence = "very"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(project, env={})
    assert str(info.value).startswith(str(project / ".gemma-review.toml"))
    assert "min_confidence" in str(info.value)


def test_invalid_env_value(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"^environment variable GEMMA_REVIEW_TIMEOUT must be a number, got 'soon'$"):
        load_settings(project, env={"GEMMA_REVIEW_TIMEOUT": "soon"})


@pytest.mark.parametrize(
    "content",
    ['model = "unterminated\n', "model = \n", "[tool.gemma-review\nmodel = 'x'\n", "model = 'a'\nmodel = 'b'\n"],
    ids=["unterminated string", "missing value", "bad table header", "duplicate key"],
)
def test_invalid_toml(project: Path, content: str) -> None:
    (project / ".gemma-review.toml").write_text(content)
    with pytest.raises(ConfigError) as info:
        load_settings(project, env={})
    message = str(info.value)
    assert "invalid TOML" in message and ".gemma-review.toml" in message and "\n" not in message


def test_pyproject_section_must_be_a_table(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool]\ngemma-review = "yes"\n')
    with pytest.raises(ConfigError, match="must be a table"):
        load_settings(project, env={})


@pytest.mark.parametrize(
    "given, expected",
    [
        ("0.0.0.0", "http://0.0.0.0:11434"),
        ("localhost:11434", "http://localhost:11434"),
        ("localhost", "http://localhost:11434"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://x:1", "http://x:1"),
        ("http://x:1/", "http://x:1"),
        ("https://ollama.example.com", "https://ollama.example.com"),
        ("http://gpu-box", "http://gpu-box:11434"),
        ("[::1]:11434", "http://[::1]:11434"),
        ("[::1]", "http://[::1]:11434"),
        ("http://[::1]", "http://[::1]:11434"),
        (" localhost:11434 ", "http://localhost:11434"),
    ],
)
def test_normalize_host(given: str, expected: str) -> None:
    assert normalize_host(given) == expected


@pytest.mark.parametrize("host", ["ftp://x", "http://", "x:notaport", ""])
def test_normalize_host_rejects(host: str) -> None:
    with pytest.raises(ConfigError):
        normalize_host(host, "OLLAMA_HOST")


@pytest.mark.parametrize(
    "host, local",
    [
        ("http://127.0.0.1:11434", True),
        ("http://127.8.9.10:11434", True),
        ("http://localhost:11434", True),
        ("http://foo.localhost:11434", False),  # a name other than `localhost` is resolved, maybe by DNS
        ("http://[::1]:11434", True),
        ("http://0.0.0.0:11434", True),
        ("http://192.168.1.20:11434", False),
        ("http://10.0.0.1:11434", False),
        ("https://api.example.com", False),
        ("http://localhost.example.com:11434", False),
        ("http://[2001:db8::1]:11434", False),
    ],
)
def test_loopback(host: str, local: bool) -> None:
    assert is_loopback_host(host) is local


def test_privacy_check() -> None:
    remote = Settings(host="http://192.168.1.20:11434")
    with pytest.raises(ConfigError) as info:
        check_privacy(remote)
    assert "192.168.1.20" in str(info.value) and "allow_remote" in str(info.value)
    check_privacy(Settings(host="http://192.168.1.20:11434", allow_remote=True))
    check_privacy(Settings(host="http://192.168.1.20:11434", backend="embedded"))  # no network at all
    for local in ("http://localhost:11434", "http://127.0.0.1:11434", "http://[::1]:11434"):
        check_privacy(Settings(host=local))


def test_privacy_through_load_settings(project: Path) -> None:
    s = load_settings(project, env={"OLLAMA_HOST": "gpu-box:11434"}).settings
    with pytest.raises(ConfigError):
        check_privacy(s)
    s = load_settings(project, env={"OLLAMA_HOST": "gpu-box:11434"}, overrides={"allowRemote": True}).settings
    check_privacy(s)


def test_review_key_changes_with_what_the_model_is_asked() -> None:
    base = Settings().review_key
    assert Settings(model="other").review_key != base
    assert Settings(categories=["bug"]).review_key != base
    assert Settings(categories=list(reversed(Settings().categories))).review_key == base
    assert Settings(fail_on="never").review_key == base  # filtering afterwards: same review


def test_setting_names_cover_the_dataclass() -> None:
    names = setting_names()
    assert "model" in names and "min_confidence" in names and "debounce_ms" in names
    assert len(names) == len(set(names))


# --- compatibility: a newer teammate's configuration must not stop an older version ----------


def test_unknown_key_in_a_config_file_is_a_warning_with_a_suggestion(project: Path) -> None:
    (project / ".gemma-review.toml").write_text('numCtxx = 4096\nmodel = "m"\nfuture_setting = true\n')
    loaded = load_settings(project, env={})
    assert loaded.settings.model == "m"  # the known keys still apply
    assert loaded.settings.num_ctx == Settings().num_ctx
    path = project / ".gemma-review.toml"
    assert loaded.warnings == [
        f"{path}: unknown setting 'numCtxx' ignored (did you mean 'num_ctx'?)",
        f"{path}: unknown setting 'future_setting' ignored",
    ]


def test_unknown_key_in_pyproject_and_the_user_file(project: Path, tmp_path: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.gemma-review]\nfail_onn = "warning"\n')
    user = tmp_path / "user.toml"
    user.write_text('[tool.gemma-review]\ntimout = 5\n')
    loaded = load_settings(project, env={"GEMMA_REVIEW_CONFIG": str(user)})
    assert loaded.warnings == [
        f"{user}: unknown setting 'timout' ignored (did you mean 'timeout'?)",
        f"{project / 'pyproject.toml'}: unknown setting 'fail_onn' ignored (did you mean 'fail_on'?)",
    ]
    assert loaded.settings.timeout == Settings().timeout and loaded.settings.fail_on == "error"


def test_flags_and_apply_still_refuse_unknown_names(project: Path) -> None:
    # A misspelt option is a mistake made now, not a file from another version.
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        load_settings(project, env={}, overrides={"colour": "red"})


@pytest.mark.parametrize("key", ["allow_remote", "allowRemote", "allow-remote"])
def test_a_project_file_cannot_allow_remote_in_any_key_style(project: Path, key: str) -> None:
    (project / ".gemma-review.toml").write_text(f'{key} = true\nhost = "http://example.com:11434"\n')
    loaded = load_settings(project, env={})
    assert loaded.settings.allow_remote is False
    assert any("'allow_remote' is ignored in a project's config file" in w for w in loaded.warnings)
    with pytest.raises(ConfigError, match="refusing to send code"):
        check_privacy(loaded.settings)


def test_one_spelling_rule_for_files_env_and_editors() -> None:
    from gemma_review.config import setting_name

    assert setting_name("numCtx") == setting_name("num-ctx") == setting_name("num_ctx") == "num_ctx"
    assert setting_name("maxUnitLines") == "max_unit_lines"


def test_unknown_type_strings_are_rejected() -> None:
    import dataclasses

    from gemma_review.config import check_kinds

    check_kinds(Settings)  # every real setting has a known type

    @dataclasses.dataclass
    class Newer:
        limits: dict[str, int] = dataclasses.field(default_factory=dict)
        model: str = "m"

    with pytest.raises(TypeError, match=r"limits: dict\[str, int\]"):
        check_kinds(Newer)
