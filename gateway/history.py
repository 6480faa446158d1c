"""Read access to stored conversations: a conversation, its messages, a youth's earlier ones.

``ConversationStream`` (``gateway.stream``) is built on this; channels and the console reach
these reads through the stream. Read receipts live here too: marking messages read is what
reading them back in the widget does.
"""

from __future__ import annotations

from typing import Any

from contract.channel import OutboundMessage
from contract.crypto import DataProtector
from contract.models import Conversation, DeliveryStatus, Event, Message
from gateway.bus import EventBus
from store import contacts, conversations, messages
from store.database import Store


class UnknownConversation(LookupError):
    pass


class ConversationHistory:
    def __init__(self, *, store: Store, bus: EventBus, protector: DataProtector) -> None:
        self.store = store
        self.bus = bus
        self.protector = protector

    async def get_conversation(self, conversation_id: str) -> Conversation:
        conversation = await conversations.find_conversation(self.store, conversation_id)
        if conversation is None:
            raise UnknownConversation(conversation_id)
        return conversation

    async def history(self, conversation_id: str, *, include_private: bool = False,
                      limit: int = messages.HISTORY_LIMIT) -> list[Message]:
        return await messages.history(self.store, conversation_id, include_private=include_private, limit=limit)

    async def history_after(self, conversation_id: str, after_seq: int) -> list[Message]:
        """Non-private messages with ``seq`` greater than ``after_seq``, in order (resume after reconnect)."""
        return await messages.history(self.store, conversation_id, after_seq=after_seq)

    async def recent_conversations(self, platform: str, account: str, external_user_id: str,
                                   limit: int = 3) -> list[Conversation]:
        """The newest conversations of one platform identity, newest first (a returning youth's history)."""
        contact_id = contacts.contact_id_for(self.protector, platform, account, external_user_id)
        return await conversations.recent_conversations(self.store, contact_id, platform, account, limit)

    async def outbound_for(self, message: Message) -> OutboundMessage:
        """The stored message addressed to the youth's identity on the conversation's channel account."""
        conversation = await self.get_conversation(message.conversation_id)
        contact = await contacts.find_contact(self.store, self.protector, conversation.contact_id)
        if contact is None:
            raise LookupError(f"contact {conversation.contact_id} of conversation {conversation.id} is not stored")
        identity = next(
            i for i in contact.identities
            if i.platform == conversation.platform and i.account == conversation.account
        )
        return OutboundMessage(
            message_id=message.id,
            conversation_id=conversation.id,
            platform=conversation.platform,
            account=conversation.account,
            external_user_id=identity.external_id,
            type=message.type,
            text=message.text,
            media=message.media,
            tags=conversation.tags,
        )

    async def mark_read(self, conversation_id: str, up_to_seq: int) -> int:
        """The youth has seen outbound messages up to ``up_to_seq``; tell the console."""
        ids = await messages.mark_read(self.store, conversation_id, up_to_seq)
        if not ids:
            return 0
        conversation = await self.get_conversation(conversation_id)
        for message_id in ids:
            await self.publish("message.status", conversation, message_id=message_id,
                               status=DeliveryStatus.READ, error=None)
        return len(ids)

    async def publish(self, event_type: str, conversation: Conversation, **data: Any) -> None:
        await self.bus.publish(Event.about(event_type, conversation, data))
