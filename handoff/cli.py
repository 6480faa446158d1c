"""``youthdesk createuser``: add a counsellor, supervisor or admin; the password comes from stdin."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from contract.config import Settings, settings_from_args
from contract.people import Role
from handoff.errors import Invalid
from handoff.users import create_user
from store.client import open_store


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("createuser", help="add a console user (password read from stdin)")
    parser.add_argument("--username", required=True)
    parser.add_argument("--role", required=True, choices=[role.value for role in Role])
    parser.add_argument("--desk", required=True, help="home desk id (see [[desks]] in the config)")
    parser.add_argument("--skills", default="", help="comma-separated, e.g. psychological,legal")
    parser.add_argument("--capacity", type=int, default=3, help="concurrent conversations")
    parser.add_argument("--display-name")
    parser.set_defaults(handler=_createuser)


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            sys.exit("youthdesk: passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


async def _create(settings: Settings, args: argparse.Namespace, password: str) -> str:
    store = open_store(settings.service.mongodb_uri, settings.service.mongodb_database)
    try:
        await store.ensure_indexes()
        user = await create_user(store, settings, username=args.username, password=password, role=args.role,
                                 desk=args.desk, display_name=args.display_name, capacity=args.capacity,
                                 skills=[s for s in args.skills.split(",") if s.strip()])
        return user.id
    finally:
        await store.close()


def _createuser(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    if not settings.service.mongodb_uri:
        sys.exit("youthdesk: createuser needs MONGODB_URI; the embedded store lives only inside `youthdesk serve` "
                 "(demo mode creates demo accounts there and prints their passwords)")
    password = _read_password()
    try:
        user_id = asyncio.run(_create(settings, args, password))
    except Invalid as exc:
        sys.exit(f"youthdesk: {exc}")
    print(f"created {args.role} {args.username.lower()} on desk {args.desk} ({user_id})")
