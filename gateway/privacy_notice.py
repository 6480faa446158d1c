"""The privacy notice on first contact: once per contact and notice version, on every channel that takes text.

After a youth's message has been routed, the stream asks here whether that contact has been shown the
current notice; if not, the notice goes out as an ordinary outbound message (stored, delivered and retried
by the outbox like any reply) and the consent ledger records it as shown. Routing comes first, so a
crisis reply is always in the outbox — and delivered — before the notice; the notice never waits on
consent and nothing waits on the notice.

On platforms with a reply quota per youth message (WeChat's 5 in 48 h, QQ's 5 passive replies, Douyin)
the notice would take one of the few messages a counsellor has in a crisis, so while the conversation is
at risk (level 2 or more) it is deferred — 个人信息保护法 art. 18 para. 2 lets an emergency's notice follow
once the emergency is over — and goes with the contact's first message routed when it is not (in practice
their next conversation). Elsewhere it follows the crisis reply at once: it costs nothing and says help
never depends on it. A voice line (the hotline) gives its notice in the call centre's IVR greeting,
which this gateway neither plays nor hears, so nothing is sent or recorded for it (its SMS is for replies).

Exactly once, across crashes: the notice's message id is derived from (contact, version), so a resumed
message finds it already stored and only completes the ledger entry; the ledger (``store.consent``)
then answers "shown" for good.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from contract.models import Conversation, Message, SenderKind, utcnow
from contract.privacy import PrivacyNotice
from contract.youth import PRIVACY_NOTICE, ConsentRecord
from store import consent, messages
from store.database import Store

AT_RISK = 2  # from this level a conversation on a budgeted platform keeps every reply for the crisis


class SendNotice(Protocol):
    async def __call__(self, conversation_id: str, text: str, *, sender: SenderKind,
                       message_id: str) -> Message: ...


def notice_message_id(contact_id: str, version: str) -> str:
    digest = hashlib.sha256("\x1f".join((contact_id, version)).encode()).hexdigest()
    return f"out_notice_{digest[:24]}"


@dataclass(frozen=True, slots=True, kw_only=True)
class PrivacyNotices:
    store: Store
    notice: PrivacyNotice
    public_url: str  # the full notice is linked at public_url + /privacy
    budgeted: frozenset[str]  # platforms with a reply quota per youth message
    voice: frozenset[str]  # platforms whose callers hear the notice from the call centre instead

    def due_now(self, conversation: Conversation) -> bool:
        if conversation.platform in self.voice or conversation.window.closed_reason is not None:
            return False
        return not (conversation.platform in self.budgeted and conversation.risk_level >= AT_RISK)

    async def after_routing(self, conversation: Conversation, send: SendNotice) -> Message | None:
        """Send the notice if this contact has not been shown the current version; the message if sent now."""
        version = self.notice.version
        if not self.due_now(conversation) or await consent.notice_shown(self.store, conversation.contact_id, version):
            return None
        message_id = notice_message_id(conversation.contact_id, version)
        sent = None
        if await messages.conversation_of(self.store, message_id) is None:  # else: queued before a crash
            sent = await send(conversation.id, self.notice.short_text(self.public_url), sender=SenderKind.SYSTEM,
                              message_id=message_id)
        # The entry's id is the message's: a second append after a crash is refused as a duplicate.
        await consent.append_to_ledger(self.store, conversation.contact_id, lambda seq: ConsentRecord(
            id=f"cs_{message_id}", contact_id=conversation.contact_id, seq=seq, purpose=PRIVACY_NOTICE,
            decision="shown", given_by="service", under_14=None, notice_version=version,
            note=f"{conversation.platform}: message {message_id}", recorded_by="service", recorded_at=utcnow()))
        return sent
