"""The demo accounts: created on a fresh demo store, their passwords shown on every demo start.

Only argon2 hashes go into the store. The passwords are kept in ``<data_dir>/demo-accounts.txt``
(mode 0600, written before the accounts are created, so a crash between the two loses no
password), and every start of the demo prints them, so an operator who restarts the demo can
still sign in. Production never creates or prints them (``env = "demo"`` only).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from contract.config import Settings
from contract.people import Role
from handoff.users import create_user, get_user_by_username
from store.client import Store

PASSWORDS_FILE = "demo-accounts.txt"

# (username, role, desk, display name, skills, capacity)
DEMO_ACCOUNTS: tuple[tuple[str, Role, str, str, list[str], int], ...] = (
    ("counsellor-sz", Role.COUNSELLOR, "sz", "深圳·林老师", ["psychological", "legal"], 3),
    ("counsellor-gd", Role.COUNSELLOR, "gd", "广东·陈老师", ["psychological"], 3),
    ("supervisor-gd", Role.SUPERVISOR, "gd", "广东·督导王老师", ["psychological", "legal"], 2),
    ("admin", Role.ADMIN, "national", "系统管理员", [], 0),
)


@dataclass
class DemoAccounts:
    file: Path
    passwords: dict[str, str] = field(default_factory=dict)  # username -> password, for the accounts kept in the file
    created: list[str] = field(default_factory=list)  # usernames created by this start
    unknown: list[str] = field(default_factory=list)  # accounts in the store whose password the file lacks

    def banner(self) -> str:
        lines = [f"\n  Demo console accounts (passwords kept in {self.file}, readable only by you):"]
        lines += [f"    {name:<16} {password}" for name, password in self.passwords.items()]
        lines += [f"    {name:<16} (password not in that file: it was removed; delete the data directory "
                  "to start the demo afresh)" for name in self.unknown]
        return "\n".join(lines) + "\n\n"


def _read(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split(maxsplit=1) for line in path.read_text(encoding="utf-8").splitlines())
    return {pair[0]: pair[1].strip() for pair in pairs if len(pair) == 2}


def _write(path: Path, passwords: dict[str, str]) -> None:
    """Replace the file atomically, never readable by others (not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("".join(f"{name} {password}\n" for name, password in passwords.items()))
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)


async def ensure_demo_accounts(store: Store, settings: Settings) -> DemoAccounts:
    """Create the demo accounts the store lacks; return every password the file keeps."""
    path = Path(settings.service.data_dir) / PASSWORDS_FILE
    kept = _read(path)
    accounts = DemoAccounts(file=path)
    missing = [account for account in DEMO_ACCOUNTS if await get_user_by_username(store, account[0]) is None]
    new = {name: kept.get(name) or secrets.token_urlsafe(12) for name, *_ in missing}
    if any(kept.get(name) != password for name, password in new.items()):
        _write(path, kept | new)
        kept |= new
    for username, role, desk, display_name, skills, capacity in missing:
        await create_user(store, settings, username=username, password=new[username], role=role, desk=desk,
                          display_name=display_name, skills=skills, capacity=capacity)
        accounts.created.append(username)
    for name, *_ in DEMO_ACCOUNTS:
        if name in kept:
            accounts.passwords[name] = kept[name]
        else:
            accounts.unknown.append(name)
    return accounts
