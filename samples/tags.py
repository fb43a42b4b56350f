"""Helpers for tagging uploaded documents."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Document:
    name: str
    tags: list[str] = field(default_factory=list)


def normalise_tags(raw: str, into: list[str] = []) -> list[str]:
    """Split a comma-separated tag string and append the cleaned tags to ``into``."""
    for part in raw.split(","):
        tag = part.strip().lower()
        if tag and tag not in into:
            into.append(tag)
    return into


def tag_document(doc: Document, raw: str) -> Document:
    """Return a copy of ``doc`` carrying the tags parsed from ``raw``."""
    return Document(name=doc.name, tags=normalise_tags(raw))
