"""Timezone normalisation for datetimes read back from the store.

MongoDB (the client is opened with ``tz_aware=True``) returns aware UTC datetimes; the embedded
mongomock store returns naive ones that are UTC all the same. Every store module passes the
datetimes it reads through :func:`aware`, so nothing above the store compares naive with aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
@overload
def aware(value: datetime | None) -> datetime | None: ...
def aware(value: datetime | None) -> datetime | None:
    """``value`` as an aware UTC datetime (naive values are UTC by the store's convention)."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def aware_document(value: Any) -> Any:
    """Every datetime in a document (or list, or value), aware."""
    if isinstance(value, datetime):
        return aware(value)
    if isinstance(value, dict):
        return {key: aware_document(item) for key, item in value.items()}
    if isinstance(value, list):
        return [aware_document(item) for item in value]
    return value
