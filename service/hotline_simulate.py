"""``youthdesk simulate hotline``: a whole phone call's events, posted as the call-centre platform posts them."""

from __future__ import annotations

import argparse
import asyncio
import secrets

import aiohttp

from contract.config import ChannelAccountConfig, settings_from_args
from service.hotline_standin import call_events, place_call


def add_simulator(platforms: argparse._SubParsersAction) -> None:
    parser = platforms.add_parser("hotline", help="a phone call's events (ringing, answered, ended), signed")
    parser.add_argument("--account", required=True, help="the call centre's id (see config)")
    parser.add_argument("--caller", default="13812345678", help="the caller's number (stored only masked)")
    parser.add_argument("--counsellor", default="王老师", help="who answers the call")
    parser.add_argument("--transfer-to", default="", help="transfer the call to this line or person")
    parser.add_argument("--pace", type=float, default=0.5, help="seconds between events")
    parser.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    centre = next((a for a in settings.accounts_for("hotline") if a.id == args.account), None)
    if centre is None:
        raise SystemExit(f"no hotline call centre {args.account!r} in the configuration")
    asyncio.run(_simulate_call(args, centre))


async def _simulate_call(args: argparse.Namespace, centre: ChannelAccountConfig) -> None:
    events = call_events(f"sim-{secrets.token_hex(6)}", args.caller, args.counsellor, transfer_to=args.transfer_to)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        for placed in await place_call(http, args.url, centre, events, args.pace):
            print(f"{placed.event['event']}: gateway answered HTTP {placed.status} {placed.answer}")
