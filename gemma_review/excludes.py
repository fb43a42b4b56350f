"""What no reviewer should read: secrets, lock files, minified bundles, generated and vendored code.

The patterns are the default of the ``default_exclude`` setting (a config file can
replace the list, or empty it); ``include`` patterns that name a file win over them.
Generated files are recognised by the marker their generators write near the top.
"""

from __future__ import annotations

import fnmatch
import re

DEFAULT_EXCLUDES: dict[str, tuple[str, ...]] = {
    "key or certificate material": (
        "*.pem", "*.key", "*.crt", "*.cer", "*.csr", "*.der", "*.p12", "*.pfx", "*.jks",
        "*.keystore", "*.gpg", "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", ".env", ".env.*", ".netrc",
    ),
    "lock file": (
        "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb",
        "poetry.lock", "uv.lock", "Pipfile.lock", "pdm.lock", "Cargo.lock", "go.sum",
        "composer.lock", "Gemfile.lock", "flake.lock", "pubspec.lock", "mix.lock",
    ),
    "minified bundle": ("*.min.js", "*.min.mjs", "*.min.css", "*.bundle.js", "*.js.map", "*.css.map"),
    "vendored code": (
        "vendor/*", "*/vendor/*", "node_modules/*", "*/node_modules/*",
        "third_party/*", "*/third_party/*", "_vendor/*", "*/_vendor/*",
    ),
}
DEFAULT_EXCLUDE_PATTERNS: list[str] = [p for group in DEFAULT_EXCLUDES.values() for p in group]
_KIND = {p: kind for kind, group in DEFAULT_EXCLUDES.items() for p in group}

# "@generated" (Facebook/Meta tools, protobuf plugins) and Go's
# "// Code generated ... DO NOT EDIT." convention, and the plain "DO NOT EDIT" banner.
_GENERATED = re.compile(r"@generated\b|\bDO NOT EDIT\b")
GENERATED_HEAD_CHARS = 2048  # the markers live in the first lines


def matches(path: str, patterns: list[str]) -> str | None:
    """The first pattern matching the path or its file name, or None."""
    path = path.replace("\\", "/")
    name = path.rsplit("/", 1)[-1]
    for p in patterns:
        if fnmatch.fnmatch(path, p) or fnmatch.fnmatch(name, p):
            return p
    return None


def default_reason(pattern: str) -> str:
    kind = _KIND.get(pattern)
    what = f"{kind}, " if kind else ""
    return f"excluded by default ({what}pattern '{pattern}'; change 'default_exclude' to review it)"


def generated(text: str) -> bool:
    return _GENERATED.search(text[:GENERATED_HEAD_CHARS]) is not None
