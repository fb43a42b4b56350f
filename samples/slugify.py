"""Turn article titles into URL slugs."""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^a-z0-9]+")


def slugify(title: str, max_length: int = 60) -> str:
    """Return a lowercase ASCII slug for ``title``, at most ``max_length`` characters."""
    if max_length < 1:
        raise ValueError(f"max_length must be positive, got {max_length}")
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = _NON_WORD.sub("-", ascii_title.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rstrip("-")
    return slug or "untitled"


def unique_slug(title: str, taken: set[str]) -> str:
    """Return a slug for ``title`` that is not in ``taken``, adding -2, -3, ... as needed."""
    base = slugify(title)
    candidate = base
    suffix = 2
    while candidate in taken:
        candidate = f"{base}-{suffix}"
        suffix += 1
    return candidate
