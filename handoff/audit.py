"""The audit log: who read or changed which transcript or case, when, and why.

Entries are never updated, and deleted only by retention once past ``data.retention.audit_days``
(at least six months), so the log is a faithful record of access to minors' data.
"""

from __future__ import annotations

from contract.alerts import AuditEntry
from store import alerts as stored
from store.client import Store

MAX_LIMIT = 500


async def record(store: Store, actor: str, action: str, target: str, reason: str | None = None) -> None:
    """Append one entry; ``reason`` is the viewer's stated purpose (required of supervisors reading others' work)."""
    await stored.insert_audit_entry(store, AuditEntry.now(actor, action, target, reason))


async def list_audit(store: Store, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
    """Newest first."""
    return await stored.audit_entries(store, target, max(1, min(limit, MAX_LIMIT)))
