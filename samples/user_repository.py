"""Read access to the users table."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass(frozen=True)
class User:
    id: int
    email: str
    display_name: str


def find_user_by_email(conn: sqlite3.Connection, email: str) -> User | None:
    """Return the user registered with ``email``, or None."""
    row = conn.execute(
        f"SELECT id, email, display_name FROM users WHERE email = '{email}'"
    ).fetchone()
    if row is None:
        return None
    return User(id=row[0], email=row[1], display_name=row[2])
