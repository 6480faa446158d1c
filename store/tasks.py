"""Tasks (``tasks``): outreach, follow-ups and debriefs with an assignee and a due time.

A task made from something that may be seen twice (a referral's follow-up date, a silence) gets a
caller-chosen ``_id``, so inserting it again is a no-op and two ticks or instances never duplicate it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contract.tasks import Task
from store.database import Index, Store
from store.fields import seal, unseal
from store.times import aware

INDEXES = {
    "tasks": [
        Index([("assignee", ASCENDING), ("state", ASCENDING), ("due_at", ASCENDING)], "assignee_open"),
        Index([("desk", ASCENDING), ("state", ASCENDING), ("due_at", ASCENDING)], "desk_open"),
        Index([("state", ASCENDING), ("reminded_at", ASCENDING), ("due_at", ASCENDING)], "reminders"),
    ],
}


def _task(store: Store, doc: dict[str, Any]) -> Task:
    task = Task.model_validate({**doc, "id": doc["_id"],
                                "callback_contact": unseal(store, doc.get("callback_contact", ""))})
    return task.model_copy(update={"due_at": aware(task.due_at), "created_at": aware(task.created_at),
                                   "reminded_at": aware(task.reminded_at), "done_at": aware(task.done_at)})


def _doc(store: Store, task: Task) -> dict[str, Any]:
    doc = task.model_dump()
    doc["_id"] = doc.pop("id")
    doc["callback_contact"] = seal(store, task.callback_contact)
    return doc


async def insert_once(store: Store, task: Task) -> bool:
    """Store ``task``; False if a task with its id exists already."""
    try:
        await store["tasks"].insert_one(_doc(store, task))
    except DuplicateKeyError:
        return False
    return True


async def existing_ids(store: Store, task_ids: list[str]) -> set[str]:
    """Which of ``task_ids`` have been made already."""
    docs = await store["tasks"].find({"_id": {"$in": task_ids}}, {"_id": 1}).to_list(None)
    return {doc["_id"] for doc in docs}


async def find(store: Store, task_id: str) -> Task | None:
    doc = await store["tasks"].find_one({"_id": task_id})
    return _task(store, doc) if doc else None


async def open_tasks(store: Store, *, desks: set[str] | None = None, assignee: str | None = None,
                     limit: int = 500) -> list[Task]:
    """Open tasks, soonest due first, of some desks and/or one assignee."""
    query: dict[str, Any] = {"state": "open"}
    if desks is not None:
        query["desk"] = {"$in": sorted(desks)}
    if assignee is not None:
        query["assignee"] = assignee
    docs = await store["tasks"].find(query).sort("due_at", 1).limit(limit).to_list(None)
    return [_task(store, doc) for doc in docs]


async def due_for_reminder(store: Store, before: datetime) -> list[Task]:
    """Open tasks due before ``before`` whose assignee has not been reminded yet."""
    docs = await store["tasks"].find({"state": "open", "reminded_at": None, "due_at": {"$lte": before}}
                                     ).to_list(None)
    return [_task(store, doc) for doc in docs]


async def mark_reminded(store: Store, task_id: str, now: datetime) -> bool:
    """True for exactly one caller: a reminder goes out once."""
    result = await store["tasks"].update_one({"_id": task_id, "reminded_at": None}, {"$set": {"reminded_at": now}})
    return bool(result.modified_count)


async def update(store: Store, task_id: str, changes: dict[str, Any]) -> Task | None:
    doc = await store["tasks"].find_one_and_update({"_id": task_id}, {"$set": changes},
                                                   return_document=ReturnDocument.AFTER)
    return _task(store, doc) if doc else None


async def set_callback_contact(store: Store, task_id: str, contact: str, title: str) -> Task | None:
    """Keep the number a youth left with their 留言 (and retitle the task), while it is open; None once done."""
    doc = await store["tasks"].find_one_and_update(
        {"_id": task_id, "state": "open"}, {"$set": {"callback_contact": seal(store, contact), "title": title}},
        return_document=ReturnDocument.AFTER)
    return _task(store, doc) if doc else None


async def complete(store: Store, task_id: str, *, outcome: str, by: str, now: datetime) -> Task | None:
    """Close an open task with its outcome; None if it was done already."""
    doc = await store["tasks"].find_one_and_update(
        {"_id": task_id, "state": "open"},
        {"$set": {"state": "done", "outcome": outcome, "done_by": by, "done_at": now}},
        return_document=ReturnDocument.AFTER)
    return _task(store, doc) if doc else None


async def open_referral_follow_ups(store: Store, before: datetime) -> list[dict[str, Any]]:
    """Case documents (read only; ``store.cases`` owns them) with a referral or follow-up due before
    ``before`` that is still pending, for ``handoff.tasks`` to turn into tasks."""
    docs = await store["cases"].find(
        {"$or": [{"referrals": {"$elemMatch": {"due_at": {"$lte": before}, "status": {"$in": ["sent", "accepted"]}}}},
                 {"followups": {"$elemMatch": {"due_at": {"$lte": before}, "done": False}}}]},
    ).to_list(None)
    return docs

