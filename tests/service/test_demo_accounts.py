"""The demo accounts: passwords shown on every demo start (kept in a 0600 file), never in production."""

from __future__ import annotations

import stat
from pathlib import Path

from contract.config import Settings
from handoff.users import authenticate
from service.demo_accounts import DEMO_ACCOUNTS, PASSWORDS_FILE, ensure_demo_accounts
from store.client import open_store

NAMES = [name for name, *_ in DEMO_ACCOUNTS]


async def test_a_later_start_shows_the_same_passwords_and_they_sign_in(settings: Settings, embedded_client) -> None:
    store = open_store("", settings.service.mongodb_database, embedded_client=embedded_client)
    await store.ensure_indexes()
    first = await ensure_demo_accounts(store, settings)
    assert first.created == NAMES and list(first.passwords) == NAMES and not first.unknown
    assert len(set(first.passwords.values())) == len(NAMES)
    file = Path(settings.service.data_dir) / PASSWORDS_FILE
    assert first.file == file and stat.S_IMODE(file.stat().st_mode) == 0o600

    again = await ensure_demo_accounts(store, settings)
    assert again.created == [] and again.passwords == first.passwords
    banner = again.banner()
    assert str(file) in banner and all(f"{name:<16} {first.passwords[name]}" in banner for name in NAMES)
    for name, password in again.passwords.items():
        assert await authenticate(store, name, password) is not None, name


async def test_a_crash_between_the_file_and_the_accounts_keeps_the_printed_password(settings: Settings,
                                                                                    embedded_client) -> None:
    store = open_store("", settings.service.mongodb_database, embedded_client=embedded_client)
    await store.ensure_indexes()
    first = await ensure_demo_accounts(store, settings)
    await store["users"].delete_one({"username": "admin"})  # as if the start died before creating it

    again = await ensure_demo_accounts(store, settings)
    assert again.created == ["admin"] and again.passwords == first.passwords
    assert await authenticate(store, "admin", first.passwords["admin"]) is not None


async def test_a_removed_file_is_said_and_no_account_changes(settings: Settings, embedded_client) -> None:
    store = open_store("", settings.service.mongodb_database, embedded_client=embedded_client)
    await store.ensure_indexes()
    first = await ensure_demo_accounts(store, settings)
    first.file.unlink()

    again = await ensure_demo_accounts(store, settings)
    assert again.created == [] and again.passwords == {} and again.unknown == NAMES
    assert "password not in that file" in again.banner()
    assert await authenticate(store, "admin", first.passwords["admin"]) is not None


async def test_only_the_demo_creates_or_prints_them(settings: Settings, start_app, capsys) -> None:
    client = await start_app()  # env = "test" (as production: not the demo)
    assert (await client.get("/healthz")).status in (200, 503)
    assert "Demo console accounts" not in capsys.readouterr().out
    assert not (Path(settings.service.data_dir) / PASSWORDS_FILE).exists()

    demo = settings.model_copy(update={"service": settings.service.model_copy(update={"env": "demo"})})
    await start_app(settings=demo)
    out = capsys.readouterr().out
    assert "Demo console accounts" in out and (Path(settings.service.data_dir) / PASSWORDS_FILE).exists()
