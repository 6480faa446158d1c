"""The ``youthdesk`` command. Each subcommand lives with the code it drives and registers here."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from gateway.config import DEMO_CONFIG_PATH, ConfigError, Settings, load_settings

log = logging.getLogger("youthdesk.cli")


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Load --config, else YOUTHDESK_CONFIG, else the shipped demo configuration."""
    path = args.config or os.environ.get("YOUTHDESK_CONFIG") or DEMO_CONFIG_PATH
    try:
        return load_settings(Path(path))
    except ConfigError as exc:
        sys.exit(f"youthdesk: configuration error: {exc}")


def _serve(args: argparse.Namespace) -> None:
    from aiohttp import web

    from gateway.app import create_app
    from gateway.logs import configure_logging

    settings = settings_from_args(args)
    configure_logging(json_lines=args.log_json or settings.service.log_json)
    host = args.host or settings.service.host
    port = args.port or settings.service.port
    app = create_app(settings)

    def announce(_: str) -> None:
        base = f"http://{host}:{port}"
        print(f"youthdesk ({settings.service.env}) is serving on {base}/", flush=True)
        print(f"  start page:   {base}/", flush=True)
        print(f"  health:       {base}/healthz", flush=True)

    web.run_app(app, host=host, port=port, print=announce,
                shutdown_timeout=settings.service.shutdown_grace_seconds, access_log=None)


def _register_serve(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="run the gateway")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    parser.add_argument("--log-json", action="store_true", help="structured JSON log lines")
    parser.set_defaults(handler=_serve)


def _registrations() -> list[Callable[[argparse._SubParsersAction], None]]:
    from bot import cli as bot_cli
    from bot import risk_cli, triage_cli
    from channels import simulate
    from handoff import cli as handoff_cli

    return [_register_serve, simulate.register, handoff_cli.register, triage_cli.register, bot_cli.register,
            risk_cli.register]


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
