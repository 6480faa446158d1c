"""``youthdesk triage``: JSON lines in, one triage decision per line out, through the live code path."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TextIO

import aiohttp

from bot.rasa_client import make_rasa_client
from bot.risk import RiskDetector
from bot.risk_artifact import load_current
from bot.router import BotClient
from bot.triage import load_risk_intents, triage_text
from contract.config import settings_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "triage", help='read {"text": ...} JSON lines on stdin, write {"risk", "category", "intent", "handoff", '
                       '"cues"} per line')
    parser.add_argument("--rasa-url", help="Rasa server (used when reachable; the detector always runs)")
    parser.add_argument("--rasa-token", default="", help="Rasa auth token")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    failed = asyncio.run(run_triage(sys.stdin, sys.stdout, settings.service, args.rasa_url, args.rasa_token))
    sys.exit(1 if failed else 0)


async def run_triage(source: TextIO, sink: TextIO, service, rasa_url: str | None,  # type: ignore[no-untyped-def]
                     rasa_token: str) -> int:
    """Returns the number of input lines that could not be read (each answered with an error line)."""
    detector = RiskDetector()
    model = load_current(detector.normalise, detector.lexicon.version).model
    intents = load_risk_intents()
    failed = 0
    timeout = aiohttp.ClientTimeout(total=service.rasa_timeout_seconds * 2)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        rasa: BotClient | None = None
        if rasa_url:
            rasa = make_rasa_client(service, lambda: session, base_url=rasa_url, token=rasa_token)
            if rasa is not None and not await _reachable(rasa):
                print(f"youthdesk triage: Rasa at {rasa_url} is not reachable; like the live gateway, every "
                      "message is handed off (bot_unavailable)", file=sys.stderr)
        for line in source:
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                text = data["text"]
                if not isinstance(text, str):
                    raise TypeError("text must be a string")
            except (ValueError, KeyError, TypeError) as exc:
                failed += 1
                sink.write(json.dumps({"error": f"bad input line: {exc}"}, ensure_ascii=False) + "\n")
                continue
            decision = await triage_text(text, detector=detector, model=model, rasa=rasa, intents=intents)
            sink.write(json.dumps({"risk": decision.risk, "category": decision.category, "intent": decision.intent,
                                   "handoff": decision.handoff, "cues": decision.cues}, ensure_ascii=False) + "\n")
            sink.flush()
    return failed


async def _reachable(rasa: BotClient) -> bool:
    try:
        return await rasa.status()
    except Exception:  # noqa: BLE001 - unreachable is an answer here
        return False
