"""Text fields encrypted at rest: what is sealed, and how a sealed value is told from clear text.

A sealed value is ``enc1:`` + a Fernet token (one Fernet operation per field, either way). Values
stored before encryption was switched on carry no prefix and are read as they are, until
``youthdesk keys rotate`` (``store.rekey``) seals them. A store without a data key (tools, tests)
writes text as given and refuses to read a sealed value rather than show ciphertext as text.

Sealed fields (``SEALED``): message text (counsellor notes and transfer notes are private messages),
case summaries, assessment notes and plans, referral contacts and notes (and the notes of their status
changes), follow-up notes, mandatory-report notes, a 留言 task's callback number, work orders' notes,
contacts and status notes. Contacts' platform identifiers are sealed by ``store.contacts`` the same way
(without the prefix: they have always been encrypted).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from store.database import Store

SEALED_PREFIX = "enc1:"

# collection -> dotted paths; ``*`` stands for every element of a list.
SEALED: dict[str, tuple[str, ...]] = {
    "appointments": ("note",),
    "messages": ("text",),
    "cases": ("summary", "assessment.notes", "assessment.plan", "referrals.*.contact", "referrals.*.note",
              "referrals.*.history.*.note", "followups.*.note"),
    "mandatory_reports": ("note",),
    "tasks": ("callback_contact",),
    "work_orders": ("note", "contact", "history.*.note"),
}
# Inside one referral, follow-up or assessment: what ``seal_paths`` needs for a sub-document.
REFERRAL_FIELDS = ("contact", "note", "history.*.note")
FOLLOWUP_FIELDS = ("note",)
ASSESSMENT_FIELDS = ("notes", "plan")


def seal(store: Store, value: str) -> str:
    if not value or store.protector is None:
        return value
    return SEALED_PREFIX + store.protector.encrypt(value)


def unseal(store: Store, value: str) -> str:
    if not isinstance(value, str) or not value.startswith(SEALED_PREFIX):
        return value
    if store.protector is None:
        raise ValueError("an encrypted field was read by a store opened without the data key")
    return store.protector.decrypt(value[len(SEALED_PREFIX):])


def seal_paths(store: Store, doc: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """``doc`` with the string values at ``paths`` sealed (a new top level; nested parts are replaced in place)."""
    return _apply(store, dict(doc), paths, seal)


def unseal_paths(store: Store, doc: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    return _apply(store, dict(doc), paths, unseal)


def sealed_values(doc: dict[str, Any], paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """(concrete dotted path, value) of every string at ``paths``: what a re-encryption has to visit."""
    return [(where, value) for path in paths for _, _, where, value in _leaves(doc, path.split("."), "")]


def _apply(store: Store, doc: dict[str, Any], paths: tuple[str, ...], change: Any) -> dict[str, Any]:
    for path in paths:
        for container, key, _, value in list(_leaves(doc, path.split("."), "")):
            container[key] = change(store, value)
    return doc


def _leaves(node: Any, parts: list[str], where: str) -> Iterator[tuple[Any, Any, str, str]]:
    """(container, key, dotted path, value) of the strings ``parts`` leads to."""
    head, rest = parts[0], parts[1:]
    if head == "*":
        children = list(enumerate(node)) if isinstance(node, list) else []
    else:
        children = [(head, node[head])] if isinstance(node, dict) and head in node else []
    for key, child in children:
        path = f"{where}.{key}" if where else str(key)
        if rest:
            yield from _leaves(child, rest, path)
        elif isinstance(child, str):
            yield node, key, path, child
