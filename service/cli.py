"""The ``youthdesk`` command. Each subcommand lives with the code it drives and registers here."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from bot import lifecycle
from bot.cli import DEGRADED_WARNING, BackgroundBot
from contract.config import Settings, settings_from_args
from store.client import STORE_FILE_NAME

log = logging.getLogger("youthdesk.cli")


def _serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    from contract.logs import configure_logging
    from service.app import create_app, server_options
    from service.standins import standin_routes, standin_token, with_own_standins

    settings = settings_from_args(args)
    configure_logging(json_lines=args.log_json or settings.service.log_json)
    host = args.host or settings.service.host
    port = args.port or settings.service.port
    settings = with_own_standins(settings, host, port)
    app = create_app(settings)

    def announce(_: str) -> None:
        base = f"http://{host}:{port}"
        print(f"youthdesk ({settings.service.env}) is serving on {base}/", flush=True)
        print(f"  start page:   {base}/", flush=True)
        print(f"  health:       {base}/healthz", flush=True)
        if standin_routes(settings) and standin_token(settings):
            print(f"  stand-ins:    {base}/standin/… (inspection: Authorization: Bearer {standin_token(settings)})",
                  flush=True)
        print(f"  data:         {_data_location(settings)}", flush=True)

    web.run_app(app, host=host, port=port, print=announce,
                shutdown_timeout=settings.service.shutdown_grace_seconds, access_log=None,
                **server_options(settings.service))


def _data_location(settings: Settings) -> str:
    if settings.service.mongodb_uri:
        return f"MongoDB (MONGODB_URI), database {settings.service.mongodb_database!r}"
    path = Path(settings.service.data_dir).resolve() / STORE_FILE_NAME
    return f"{path} (durable embedded store; set MONGODB_URI to use a MongoDB server)"


def _register_serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the gateway")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--log-json", action="store_true", help="structured JSON log lines")
    parser.set_defaults(handler=_serve)


def _register_run(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser("run", help="start Rasa (installing and training it if needed) and the gateway")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--log-json", action="store_true")
    run.add_argument("--without-bot", action="store_true", help="skip Rasa: every conversation goes to a human")
    run.set_defaults(handler=_run_with_bot)


def _run_with_bot(args: argparse.Namespace) -> None:
    bot: BackgroundBot | None = None
    if args.without_bot:
        os.environ.pop("RASA_URL", None)
        print(DEGRADED_WARNING.format(reason="started with --without-bot"), file=sys.stderr, flush=True)
    else:
        bot = BackgroundBot(lifecycle.free_port(), os.environ.get("RASA_TOKEN") or secrets.token_urlsafe(24))
        # The gateway reads its settings from the environment overlay (contract/config.py).
        os.environ["RASA_URL"], os.environ["RASA_TOKEN"] = f"http://127.0.0.1:{bot.port}", bot.token
        print("==> the gateway starts now; the bot joins when Rasa is ready (installed and trained on first run)",
              flush=True)
        bot.start()
    argv = (["--config", args.config] if args.config else []) + ["serve"]
    argv += (["--host", args.host] if args.host else []) + (["--port", str(args.port)] if args.port else [])
    argv += ["--log-json"] if args.log_json else []
    try:
        main(argv)  # returns when the gateway stops (Ctrl-C / SIGTERM)
    finally:
        if bot is not None:
            bot.stop()


def _register_keys(subparsers: argparse._SubParsersAction) -> None:
    keys = subparsers.add_parser("keys", help="the data key ring").add_subparsers(dest="keys_command", required=True)
    keys.add_parser("new", help="print a fresh data key").set_defaults(handler=_new_key)
    keys.add_parser(
        "rotate", help="re-encrypt everything stored under service.data_key (the ring's first key); put the "
        "replaced key first in YOUTHDESK_PREVIOUS_DATA_KEYS before running this").set_defaults(handler=_rotate_keys)


def _new_key(_: argparse.Namespace) -> None:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())


def _rotate_keys(args: argparse.Namespace) -> None:
    import asyncio

    from contract.crypto import DataProtector
    from store.client import open_store
    from store.document_file import StoreFileInUse
    from store.rekey import reencrypt_all

    settings = settings_from_args(args)
    service = settings.service
    if not service.data_key:
        sys.exit("youthdesk: keys rotate needs service.data_key (YOUTHDESK_DATA_KEY)")
    protector = DataProtector.from_keys(service.data_key, service.previous_data_keys)

    async def rotate() -> dict:
        store = open_store(service.mongodb_uri, service.mongodb_database, data_dir=service.data_dir,
                           protector=protector)
        try:
            return await reencrypt_all(store)
        finally:
            await store.close()

    try:
        reports = asyncio.run(rotate())
    except StoreFileInUse:
        sys.exit("youthdesk: the embedded store is open in a running service; stop it, then rotate")
    except ValueError as exc:  # a value no key of the ring can read
        sys.exit(f"youthdesk: {exc}")
    for collection, report in reports.items():
        print(f"{collection}: {report.reencrypted} re-encrypted, {report.sealed} encrypted for the first time, "
              f"{report.skipped_documents} changed meanwhile (run again)")


def _registrations() -> list[Callable[[argparse._SubParsersAction], None]]:
    from bot import cli as bot_cli
    from bot import risk_cli, triage_cli
    from handoff import cli as handoff_cli
    from handoff import cli_data
    from service import simulate

    return [_register_serve, _register_run, _register_keys, simulate.register, handoff_cli.register,
            triage_cli.register, bot_cli.register, risk_cli.register, cli_data.register]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="youthdesk", description="12355 youth service desk gateway")
    parser.add_argument("--config", help="TOML settings file (default: $YOUTHDESK_CONFIG or config/demo.toml)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for register in _registrations():
        register(subparsers)
    args = parser.parse_args(argv)
    args.handler(args)


if __name__ == "__main__":
    main()
