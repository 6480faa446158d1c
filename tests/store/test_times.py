"""One timezone normalisation for every datetime read back from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from store.times import aware


def test_naive_datetimes_are_utc():
    assert aware(datetime(2026, 1, 2, 3, 4)) == datetime(2026, 1, 2, 3, 4, tzinfo=UTC)


def test_aware_datetimes_and_none_pass_unchanged():
    beijing = datetime(2026, 1, 2, 11, 4, tzinfo=timezone(timedelta(hours=8)))
    assert aware(beijing) is beijing
    assert aware(None) is None
