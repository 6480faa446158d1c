"""Desks from config: opening hours in the desk's local time (UTC+8) and the API's desk shape."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

from contract.config import DeskConfig, Settings
from contract.regions import region_name
from handoff.access import ancestors

CHINA = timezone(timedelta(hours=8))


def _parse(value: str) -> time | None:
    """``HH:MM`` → time; ``24:00`` → None (end of day)."""
    hours, minutes = (int(part) for part in value.split(":"))
    if hours == 24 and minutes == 0:
        return None
    return time(hours, minutes)


def open_now(desk: DeskConfig, now: datetime) -> bool:
    """Whether the desk is staffed at ``now``; ``22:00-08:00`` spans midnight."""
    try:
        start_text, end_text = desk.hours.split("-")
        start, end = _parse(start_text), _parse(end_text)
    except ValueError:
        return True  # unparseable hours must not turn a youth away; config validation is the cure
    local = now.astimezone(CHINA).time()
    start = start or time(0, 0)
    if end is None:
        return local >= start
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def desk_public(desk: DeskConfig, now: datetime) -> dict[str, Any]:
    return {"id": desk.id, "name": desk.name, "level": desk.level, "parent": desk.parent, "area": desk.area,
            "hours": desk.hours, "open_now": open_now(desk, now), "assignment": desk.assignment,
            "region_code": desk.region_code or None, "region_name": region_name(desk.region_code)}


def nearest_open_ancestor(settings: Settings, desk_id: str, now: datetime) -> str | None:
    """The nearest desk above ``desk_id`` that is staffed at ``now``."""
    return next((d for d in ancestors(settings, desk_id) if open_now(settings.desk(d), now)), None)
