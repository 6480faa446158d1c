"""Issue 18, finding 4: identifiers and text are encrypted at rest, and everything that reads them still works."""

from __future__ import annotations

from datetime import timedelta

from contract.channel import InboundMessage
from contract.crypto import DataProtector
from contract.keys import SETTINGS, STORE, STREAM
from contract.models import ChannelIdentity, DeliveryStatus, Direction, Message, MessageType, SenderKind, utcnow
from handoff import cases
from handoff.cases import append_mandatory_report, verify_report_chain
from store import messages
from store.cases import find_case
from store.client import open_store
from store.contacts import contact_id_for_identity
from store.fields import SEALED_PREFIX
from store.rekey import reencrypt_all
from tests.fakes import inbound
from tests.handoff_support import conversation, engine, start, user

OPENID = "oSECRETopenid1234567890abcd"
PERSONAL = "我叫王小明，在深圳实验中学读初二，电话13800138000"
SUMMARY = "王小明 初二 被同学欺负"
REFERRAL_CONTACT = "班主任 李老师 13912345678"
NOTE = "母亲 电话 13700001111"


async def _raw(store, collection: str) -> str:  # type: ignore[no-untyped-def]
    return repr(await store[collection].find({}).to_list(None))


async def test_text_identifiers_and_case_notes_are_not_stored_in_clear(start_app) -> None:
    client = await start(start_app)
    store, stream = client.app[STORE], client.app[STREAM]
    counsellor = await user(client, "c-gd", desk="gd")
    event = InboundMessage(platform="wechat", account="wxdemo0000000001", external_user_id=OPENID,
                           channel_message_id=f"ev|{OPENID}|1700000000|subscribe|qrscene_poster",
                           type=MessageType.EVENT, event="subscribe")
    first = await stream.ingest(event)
    assert (await stream.ingest(event)).duplicate  # dedupe still works on the hashed id
    said = await stream.ingest(inbound(PERSONAL, user=OPENID, msg_id="24000001"))
    cid = await conversation(client, youth=OPENID)
    await engine(client).claim(cid, counsellor)
    await stream.send(cid, NOTE, sender=SenderKind.COUNSELLOR, sender_id=counsellor.id, private=True)
    case = await cases.get_case_for_conversation(store, cid)
    assert case is not None
    await cases.update_case(store, client.app[SETTINGS], case.id, summary=SUMMARY)
    await cases.add_referral(store, client.app[SETTINGS], case.id, agency="110", by=counsellor.id,
                             due_at=utcnow() + timedelta(days=1), note=NOTE, contact=REFERRAL_CONTACT)
    await append_mandatory_report(store, case.id, reported_to="公安", reported_at=utcnow(), reported_by=counsellor.id,
                                  reference="R-1", note=NOTE)

    stored = "".join([await _raw(store, name) for name in ("messages", "cases", "mandatory_reports", "contacts",
                                                           "conversations", "events")])
    for secret in (OPENID, "13800138000", "王小明", "13912345678", "13700001111"):
        assert secret not in stored, secret
    raw_text = (await store.messages.find_one({"_id": said.message_id}))["text"]
    assert raw_text.startswith(SEALED_PREFIX)

    history = await messages.history(store, said.conversation_id, include_private=True)
    assert PERSONAL in [m.text for m in history] and first.message_id in [m.id for m in history]
    read = await find_case(store, case.id)
    assert read is not None and read.summary == SUMMARY
    assert read.referrals[0].contact == REFERRAL_CONTACT and read.referrals[0].history[0].note == NOTE
    assert read.mandatory_reports[0].note == NOTE and await verify_report_chain(store, case.id)


async def test_rotation_moves_everything_to_the_new_key_and_seals_old_clear_text(settings, embedded_client) -> None:
    old = open_store("", settings.service.mongodb_database, embedded_client=embedded_client,
                     protector=DataProtector(KEY_A))
    before_encryption = open_store("", settings.service.mongodb_database, embedded_client=embedded_client)
    await messages.insert_message(old, _message("m1", PERSONAL))
    await messages.insert_message(before_encryption, _message("m2", NOTE))  # stored in clear, as before this fix
    contact_id = await contact_id_for_identity(old, old.protector, ChannelIdentity(platform="wechat", account="wx1",
                                                                                   external_id=OPENID))
    rotated = open_store("", settings.service.mongodb_database, embedded_client=embedded_client,
                         protector=DataProtector.from_keys(KEY_B, KEY_A))
    reports = await reencrypt_all(rotated)
    assert (reports["messages"].reencrypted, reports["messages"].sealed, reports["contacts"].reencrypted) == (1, 1, 1)

    only_new = DataProtector(KEY_B)
    for doc in await rotated.messages.find({}).to_list(None):
        assert only_new.decrypt(doc["text"].removeprefix(SEALED_PREFIX)) in (PERSONAL, NOTE)
    raw_contact = await rotated.contacts.find_one({"_id": contact_id})
    assert only_new.decrypt(raw_contact["identities"][0]["external_id"]) == OPENID
    assert [m.text for m in await messages.history(rotated, "cv1")] == [PERSONAL, NOTE]
    same_youth = await contact_id_for_identity(rotated, rotated.protector, ChannelIdentity(
        platform="wechat", account="wx1", external_id=OPENID))
    assert same_youth == contact_id  # contact ids (blind indexes) did not move with the key


def _message(message_id: str, text: str) -> Message:
    return Message(id=message_id, conversation_id="cv1", seq=int(message_id[1:]), direction=Direction.INBOUND,
                   sender=SenderKind.YOUTH, text=text, status=DeliveryStatus.RECEIVED, channel_message_id=message_id)


KEY_A = "x4gY4QbPmB9wJ0dF1zq3hZcVYQ4b5l8Yb1m1tK3j0Xo="
KEY_B = "kL2u3Z0v7XbQ9nWm5c1rT4yE8sA6dF0gH2jK4lM6nP8="
