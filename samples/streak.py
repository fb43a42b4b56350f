"""Daily activity streaks for the habit tracker."""

from __future__ import annotations

from datetime import date, timedelta


def calculate_streak(events: list[dict[str, date]]) -> int:
    """Return the longest run of consecutive days that have at least one event."""
    longest = 0
    streak = 0
    prev_date: date | None = None
    for event in sorted(events, key=lambda e: e["date"]):
        current = event["date"]
        if prev_date is not None and current - prev_date == timedelta(days=1):
            streak += 1
        else:
            streak = 1
        longest = max(longest, streak)
        prev_date = current
    return longest
