"""``youthdesk bot install|train|eval|serve``, and the background Rasa that ``youthdesk run`` starts."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
from pathlib import Path

import aiohttp

from bot import lifecycle
from bot.lifecycle import RasaServer, RasaSetupError
from bot.rasa_client import RasaClient, RasaUnavailable

DEGRADED_WARNING = """
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
!!  THE BOT IS DOWN: Rasa could not be set up.
!!  The gateway starts anyway: the risk detector still checks every message, and
!!  EVERY conversation goes straight to a counsellor (/healthz shows "bot: degraded").
!!  Reason: {reason}
!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    bot = subparsers.add_parser("bot", help="the Rasa bot: install, train, eval, serve")
    commands = bot.add_subparsers(dest="bot_command", required=True)
    commands.add_parser("install", help=f"create bot/.venv-rasa with Rasa {lifecycle.RASA_VERSION} (Python 3.10)"
                        ).set_defaults(handler=_install)
    train = commands.add_parser("train", help="train when the training data changed (cached by its hash)")
    train.add_argument("--force", action="store_true", help="train even when a model for this data exists")
    train.set_defaults(handler=_train)
    evaluate = commands.add_parser("eval", help="intent scores on the Rasa held-out split and risk recall "
                                                "(starts a Rasa server unless --rasa-url is given)")
    evaluate.add_argument("--rasa-url", help="an already running Rasa server")
    evaluate.add_argument("--rasa-token", default=os.environ.get("RASA_TOKEN", ""))
    evaluate.add_argument("--intents", type=Path, default=None,
                          help="an intent split in Rasa's YAML (default: nlu_data/eval/rasa_heldout.yml)")
    evaluate.set_defaults(handler=_eval)
    serve = commands.add_parser("serve", help="install, train if needed and run the Rasa server on 127.0.0.1")
    serve.add_argument("--port", type=int, default=5005)
    serve.set_defaults(handler=_serve)


def _setup_failed(exc: RasaSetupError) -> None:
    sys.exit(f"youthdesk bot: {exc}")


def _install(args: argparse.Namespace) -> None:
    try:
        lifecycle.install()
    except RasaSetupError as exc:
        _setup_failed(exc)
    print(f"Rasa {lifecycle.RASA_VERSION} is installed in {lifecycle.VENV_DIR}")


def _train(args: argparse.Namespace) -> None:
    try:
        result = lifecycle.train(force=args.force)
    except RasaSetupError as exc:
        _setup_failed(exc)
    state = f"trained in {result.seconds:.0f} s" if result.trained else "up to date (cached)"
    print(f"model {result.model.name}: {state}")


def _serve(args: argparse.Namespace) -> None:
    try:
        with lifecycle.running_server(port=args.port) as server:
            print(f"Rasa is serving {server.model.name} on {server.url} (token: {server.token}); Ctrl-C stops it",
                  flush=True)
            server.process.wait()
    except RasaSetupError as exc:
        _setup_failed(exc)
    except KeyboardInterrupt:
        pass


def _eval(args: argparse.Namespace) -> None:
    try:
        if args.rasa_url:
            print(asyncio.run(evaluate(args.rasa_url, args.rasa_token, args.intents)))
            return
        with lifecycle.running_server() as server:
            print(asyncio.run(evaluate(server.url, server.token, args.intents)))
    except (RasaSetupError, RasaUnavailable) as exc:
        _setup_failed(exc)


async def evaluate(url: str, token: str, intents_path: Path | None = None) -> str:
    """Both reports as text: Rasa intents (held-out YAML) and risk triage (held-out JSON lines)."""
    from bot.evaluation import evaluate_risk, load_heldout
    from bot.intent_eval import RASA_HELDOUT_PATH, evaluate_intents, load_rasa_heldout

    async with aiohttp.ClientSession() as session:
        rasa = RasaClient(base_url=url, token=token, timeout=10.0, http=lambda: session)
        if not await rasa.status():
            raise SystemExit(f"youthdesk bot eval: Rasa at {url} has no model loaded")
        intents = await evaluate_intents(load_rasa_heldout(intents_path or RASA_HELDOUT_PATH), rasa)
        risk = await evaluate_risk(load_heldout(), rasa)
    return f"{intents.format()}\n\n{risk.format()}"


class BackgroundBot:
    """Rasa brought up beside a gateway that is already serving.

    The gateway starts at once with RASA_URL/RASA_TOKEN pointing where Rasa will listen; until Rasa
    answers, triage treats the bot as down (every conversation goes to a counsellor, /healthz shows
    the bot degraded). A first run installs and trains for a few minutes; nobody waits for that.
    """

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self._lock = threading.Lock()
        self._server: RasaServer | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._bring_up, name="rasa-setup", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _bring_up(self) -> None:
        try:
            lifecycle.install()
            model = lifecycle.train().model
            server = lifecycle.start_server(model, port=self.port, token=self.token)
            with self._lock:
                if self._stopping:  # the gateway stopped while we were training
                    server.stop()
                    return
                self._server = server
            server.wait_ready()
        except RasaSetupError as exc:
            print(DEGRADED_WARNING.format(reason=exc), file=sys.stderr, flush=True)
            return
        print(f"==> the bot is up: Rasa {server.url} (model {server.model.name}, API on localhost only)", flush=True)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            server = self._server
        if server is not None:
            server.stop()
            print("Rasa stopped", flush=True)
