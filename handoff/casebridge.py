"""The engine's calls into the cases module (``handoff.cases``), audit log and ratings.

The cases module is built alongside the engine; these wrappers name the hooks the engine needs
and look them up when called, so either side can land first. Fallbacks are conservative: with
no cases module, no risk assessment exists (closing level >= 2 stays blocked) and no rating is
taken; audit records are still written, to the same ``audit`` collection shape.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any

from gateway.config import Settings
from gateway.models import Conversation, Message, new_id, utcnow
from gateway.store import Store
from gateway.stream import ConversationStream

log = logging.getLogger("youthdesk.handoff")


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return None


def _hook(module_name: str, function: str) -> Any:
    module = _module(module_name)
    return getattr(module, function, None) if module is not None else None


async def audit(store: Store, actor: str, action: str, target: str, reason: str | None) -> None:
    record = _hook("handoff.audit", "record")
    if record is not None:
        await record(store, actor, action, target, reason)
        return
    await store["audit"].insert_one({"_id": new_id("au"), "actor": actor, "action": action, "target": target,
                                     "reason": reason, "at": utcnow()})


async def open_case(store: Store, settings: Settings, conversation: Conversation) -> None:
    hook = _hook("handoff.cases", "open_case")
    if hook is not None:
        await hook(store, settings, conversation)


async def case_ref(store: Store, conversation_id: str) -> tuple[str | None, str | None]:
    """(case id, case number) of the conversation's case."""
    hook = _hook("handoff.cases", "case_for_conversation")
    if hook is not None:
        case = await hook(store, conversation_id)
        if case is None:
            return None, None
        return getattr(case, "id", None), getattr(case, "number", None)
    doc = await store["cases"].find_one({"conversation_id": conversation_id}, {"number": 1})
    return (doc["_id"], doc.get("number")) if doc else (None, None)


async def has_risk_assessment(store: Store, conversation_id: str) -> bool:
    hook = _hook("handoff.cases", "has_risk_assessment")
    return bool(await hook(store, conversation_id)) if hook is not None else False


async def close_case(store: Store, conversation: Conversation, outcome: str, by: str) -> None:
    hook = _hook("handoff.cases", "close_case")
    if hook is not None:
        await hook(store, conversation.id, outcome=outcome, by=by)


async def move_case(store: Store, conversation: Conversation, desk: str) -> None:
    hook = _hook("handoff.cases", "move_case")
    if hook is not None:
        await hook(store, conversation.id, desk)


async def take_rating(store: Store, stream: ConversationStream, conversation: Conversation, message: Message) -> bool:
    hook = _hook("handoff.ratings", "record_rating_if_answer")
    return bool(await hook(store, stream, conversation, message)) if hook is not None else False
