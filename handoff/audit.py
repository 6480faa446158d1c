"""The audit log: who read or changed which transcript or case, when, and why.

Entries are only ever inserted (no update or delete path exists in the code base), so the log
is a faithful record of access to minors' data.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime

from pydantic import BaseModel

from contract.models import utcnow
from store.client import Store

MAX_LIMIT = 500


class AuditEntry(BaseModel):
    id: str
    actor: str
    action: str
    target: str
    reason: str | None = None
    at: datetime

    def public(self) -> dict[str, object]:
        return {**self.model_dump(), "at": self.at.isoformat()}


async def record(store: Store, actor: str, action: str, target: str, reason: str | None = None) -> None:
    """Append one entry; ``reason`` is the viewer's stated purpose (required of supervisors reading others' work)."""
    # Ids sort by creation time, so entries stored within one millisecond still list newest first.
    entry_id = f"au_{time.time_ns():020d}_{secrets.token_hex(4)}"
    await store["audit"].insert_one({"_id": entry_id, "actor": actor, "action": action, "target": target,
                                     "reason": reason, "at": utcnow()})


async def list_audit(store: Store, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """Newest first."""
    query = {"target": target} if target else {}
    limit = max(1, min(limit, MAX_LIMIT))
    docs = await store["audit"].find(query).sort([("at", -1), ("_id", -1)]).limit(limit).to_list(None)
    return [AuditEntry(id=doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}) for doc in docs]
