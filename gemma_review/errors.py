"""Errors that reach the user as one clear line, each with its exit code."""

from __future__ import annotations

# Exit codes (documented in docs/cli.md).
EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_MODEL_UNAVAILABLE = 3
EXIT_INTERNAL = 4  # a bug in gemma-review, not a finding: the hook must not read it as 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as git and other tools end when the reader leaves


class GemmaReviewError(Exception):
    """A problem the user can act on; ``str(err)`` is the one-line message."""

    exit_code = EXIT_USAGE


class ConfigError(GemmaReviewError):
    """Bad configuration file, environment variable or flag value."""


class InputError(GemmaReviewError):
    """Bad input: unreadable diff, missing file, not a git repository, ..."""


class ModelError(GemmaReviewError):
    """The model could not be used; the review did not happen."""

    exit_code = EXIT_MODEL_UNAVAILABLE


class ModelUnavailableError(ModelError):
    """The model server cannot be reached (not running, wrong host)."""


class ModelNotFoundError(ModelError):
    """The server answers but does not have the model."""


class PromptTooLargeError(ModelError):
    """The prompt does not fit the model's context window; ``n_ctx`` when the server said its size."""

    def __init__(self, message: str, n_ctx: int | None = None) -> None:
        super().__init__(message)
        self.n_ctx = n_ctx


class ReviewCancelled(Exception):
    """Raised inside the engine when the caller cancelled the review."""
