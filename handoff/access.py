"""Who may see what: the desk hierarchy and role checks.

A counsellor sees their own desk, a supervisor their desk and every desk below it, an admin all
desks. Refusals are ``NotPermitted``; ``handoff.web`` turns them into 403s.
"""

from __future__ import annotations

from contract.config import Settings
from contract.people import Role, User
from contract.queue import Handed
from handoff.errors import NotPermitted

OUTSIDE_YOUR_DESKS = "outside your desks"


def descendants(settings: Settings, desk_id: str) -> set[str]:
    """``desk_id`` and every desk below it."""
    found = {desk_id}
    changed = True
    while changed:
        changed = False
        for desk in settings.desks:
            if desk.parent in found and desk.id not in found:
                found.add(desk.id)
                changed = True
    return found


def ancestors(settings: Settings, desk_id: str) -> list[str]:
    """The desks above ``desk_id``, nearest first."""
    chain: list[str] = []
    try:
        parent = settings.desk(desk_id).parent
    except KeyError:
        return chain
    while parent is not None and parent not in chain:
        chain.append(parent)
        parent = settings.desk(parent).parent
    return chain


def visible_desks(user: User, settings: Settings) -> set[str]:
    if user.role == Role.ADMIN:
        return {desk.id for desk in settings.desks}
    if user.role == Role.SUPERVISOR:
        return descendants(settings, user.desk)
    return {user.desk}


def ensure_desk_access(user: User, desk_id: str, settings: Settings) -> None:
    if desk_id not in visible_desks(user, settings):
        raise NotPermitted(OUTSIDE_YOUR_DESKS)


def desk_in_view(user: User, item: Handed, settings: Settings) -> bool:
    """Whether the conversation's desk, or a desk it overflowed from (``handoff.overflow``), is one ``user`` sees."""
    return bool({item.conversation.desk, *item.conversation.also_visible_to} & visible_desks(user, settings))


def ensure_may_take(user: User, item: Handed, settings: Settings) -> None:
    """Claiming: the desk it waits at now, or one it came from (whoever is first takes it)."""
    if not desk_in_view(user, item, settings):
        raise NotPermitted(OUTSIDE_YOUR_DESKS)


def require_role(user: User, *roles: Role | str) -> None:
    if user.role not in {Role(r) for r in roles}:
        raise NotPermitted("not permitted for your role")
