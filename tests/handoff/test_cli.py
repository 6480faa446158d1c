"""``youthdesk createuser`` and the demo accounts."""

from __future__ import annotations

import argparse

import pytest

from handoff import cli as handoff_cli
from handoff.users import authenticate, get_user_by_username
from service.cli import main
from store.client import open_store


async def test_createuser_stores_only_an_argon2_hash(settings, embedded_client, monkeypatch) -> None:
    store = open_store("", settings.service.mongodb_database, embedded_client=embedded_client)
    monkeypatch.setattr(handoff_cli, "open_store", lambda uri, db: store)
    monkeypatch.setattr(store.client, "close", _noop)
    args = argparse.Namespace(username="Li.Lei", role="counsellor", desk="sz", display_name="李老师",
                              capacity=4, skills="legal, psychological")
    await handoff_cli._create(settings, args, "a-long-password")
    user = await get_user_by_username(store, "li.lei")
    assert user is not None and user.skills == ["legal", "psychological"] and user.capacity == 4
    assert user.password_hash.startswith("$argon2") and "a-long-password" not in user.password_hash
    assert await authenticate(store, "li.lei", "a-long-password") is not None
    assert await authenticate(store, "li.lei", "wrong-password") is None


async def _noop() -> None:
    return None


def test_createuser_refuses_the_embedded_store(monkeypatch, capsys) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main(["createuser", "--username", "x1", "--role", "counsellor", "--desk", "sz"])
    assert "MONGODB_URI" in str(exit_info.value)
