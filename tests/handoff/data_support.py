"""Stored conversations and cases at chosen times, for the export, report, early-warning and retention tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest

from contract.config import Settings
from store.client import Store, open_store
from store.durable import DurableMongoClient

_ids = itertools.count(1)


@pytest.fixture
async def store(settings: Settings, embedded_client: DurableMongoClient) -> Store:
    opened = open_store(settings.service.mongodb_uri, settings.service.mongodb_database,
                        embedded_client=embedded_client)
    await opened.ensure_indexes()
    return opened


async def add_case(store: Store, opened: datetime, *, desk: str = "gd", category: str | None = "psych.study",
                   risk: int = 0, platform: str = "wechat", closed: datetime | None = None,
                   profile: dict[str, Any] | None = None, score: int | None = None,
                   referrals: list[str] = (), first_reply_seconds: int | None = None) -> tuple[str, str]:
    """A handed-off conversation with its case (and rating, profile, first reply when given): (conversation, case)."""
    n = next(_ids)
    conversation_id, case_id, contact_id = f"cv{n}", f"case{n}", f"ct{n}"
    state = "closed" if closed else "assigned"
    await store.conversations.insert_one({
        "_id": conversation_id, "contact_id": contact_id, "platform": platform, "account": "a", "desk": desk,
        "state": state, "risk_level": risk, "created_at": opened, "updated_at": opened, "closed_at": closed})
    await store.contacts.insert_one({"_id": contact_id, "identities": [], "created_at": opened})
    await store["cases"].insert_one({
        "_id": case_id, "number": f"12355-{desk.upper()}-{n}", "conversation_id": conversation_id,
        "contact_id": contact_id, "desk": desk, "status": "closed" if closed else "open",
        "classification": category, "summary": "来访者自述在学校被欺负", "risk_level": risk,
        "referrals": [{"id": f"rf{n}{agency}", "agency": agency, "contact": "王老师 13800000000", "note": "已电话联系",
                       "due_at": opened, "status": "sent", "created_by": "u", "created_at": opened, "history": []}
                      for agency in referrals],
        "followups": [], "outcome": "已安抚" if closed else None, "closed_at": closed,
        "created_at": opened, "updated_at": opened, "report_head": "0" * 64, "report_count": 0})
    await store.messages.insert_one({"_id": f"m{n}", "conversation_id": conversation_id, "seq": 1, "direction": "in",
                                     "sender": "youth", "text": "我叫小明，在深圳某中学", "created_at": opened,
                                     "status": "received"})
    if profile:
        await store["youth_profiles"].insert_one({"_id": case_id, "recorded_by": "u", "recorded_at": opened,
                                                  **profile})
    if score:
        await store["ratings"].insert_one({"_id": f"r{n}", "conversation_id": conversation_id, "desk": desk,
                                           "score": score, "at": opened})
    if first_reply_seconds is not None:
        await store.events.insert_one({"_id": f"ev{n}", "type": "conversation.state_changed",
                                       "conversation_id": conversation_id, "data": {"to": "queued"}, "at": opened})
        await store.messages.insert_one({
            "_id": f"m{n}r", "conversation_id": conversation_id, "seq": 2, "direction": "out",
            "sender": "counsellor", "text": "你好", "created_at": opened + timedelta(seconds=first_reply_seconds),
            "status": "sent"})
    return conversation_id, case_id
