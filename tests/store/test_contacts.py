"""Contacts: one per platform identity, found again by a blind index, identifiers encrypted at rest."""

from __future__ import annotations

import pytest

from contract.crypto import DataProtector
from contract.models import ChannelIdentity
from store.contacts import contact_id_for, contact_id_for_identity, find_contact


@pytest.fixture
def protector(settings) -> DataProtector:
    return DataProtector(settings.service.data_key)


def _identity(external_id: str = "oSecretOpenId123") -> ChannelIdentity:
    return ChannelIdentity(platform="wechat", account="wx1", external_id=external_id, union_id="uSecretUnion")


async def test_the_same_identity_is_the_same_contact(store, protector):
    first = await contact_id_for_identity(store, protector, _identity())
    again = await contact_id_for_identity(store, protector, _identity())
    other = await contact_id_for_identity(store, protector, _identity("oSomeoneElse"))
    assert first == again == contact_id_for(protector, "wechat", "wx1", "oSecretOpenId123")
    assert other != first
    assert await store.contacts.count_documents({}) == 2


async def test_identifiers_are_encrypted_at_rest_and_decrypted_on_reading(store, protector):
    created = await contact_id_for_identity(store, protector, _identity())
    raw = await store.contacts.find_one({"_id": created})
    assert "oSecretOpenId123" not in repr(raw) and "uSecretUnion" not in repr(raw)
    found = await find_contact(store, protector, created)
    assert found is not None and found.identities == [_identity()]
    assert await find_contact(store, protector, "ct_unknown") is None


async def test_a_second_message_finds_the_contact_the_first_created_without_another(store, protector):
    contact_id = await contact_id_for_identity(store, protector, _identity())
    assert contact_id == await contact_id_for_identity(store, protector, _identity())
    found = await find_contact(store, protector, contact_id)
    assert found is not None and found.identities == [_identity()]
    assert await store.contacts.count_documents({}) == 1
