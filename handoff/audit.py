"""The audit log: who read or changed which transcript or case, when, and why.

Entries are never updated, and deleted only by retention once past ``data.retention.audit_days``
(at least six months), so the log is a faithful record of access to minors' data.
"""

from __future__ import annotations

import secrets
import time

from contract.alerts import AuditEntry
from contract.models import utcnow
from store import alerts as stored
from store.client import Store

MAX_LIMIT = 500


async def record(store: Store, actor: str, action: str, target: str, reason: str | None = None) -> None:
    """Append one entry; ``reason`` is the viewer's stated purpose (required of supervisors reading others' work)."""
    # Ids sort by creation time, so entries stored within one millisecond still list newest first.
    entry_id = f"au_{time.time_ns():020d}_{secrets.token_hex(4)}"
    await stored.insert_audit_entry(store, AuditEntry(id=entry_id, actor=actor, action=action, target=target,
                                                      reason=reason, at=utcnow()))


async def list_audit(store: Store, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """Newest first."""
    return await stored.audit_entries(store, target, max(1, min(limit, MAX_LIMIT)))
