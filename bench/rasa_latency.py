"""Rasa latency with the real server: /model/parse, the REST reply and full triage (detector + model + Rasa), p50/p99.

Uses ``RASA_URL``/``RASA_TOKEN`` when set; otherwise starts the trained model for the current data
(``youthdesk bot train``) on a free localhost port. Skips with the reason when neither is there.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack

import aiohttp

from bench._stats import describe_ms
from bot import lifecycle
from bot.evaluation import load_heldout
from bot.intent_eval import load_rasa_heldout
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.risk import RiskDetector
from bot.risk_artifact import load_current
from bot.triage import load_risk_intents, triage_text

ROUNDS = 2


async def main() -> None:
    with ExitStack() as stack:
        url, token = os.environ.get("RASA_URL", ""), os.environ.get("RASA_TOKEN", "")
        if not url:
            if not lifecycle.is_installed():
                print("skipped: Rasa is not installed (youthdesk bot install) and RASA_URL is not set")
                return
            model = lifecycle.model_path()
            if not model.is_file():
                print(f"skipped: no model for the current training data ({model.name}); run youthdesk bot train")
                return
            started = time.perf_counter()
            server = lifecycle.start_server(model)
            stack.callback(server.stop)
            server.wait_ready(echo=lambda _: None)
            print(f"started Rasa with {model.name} in {time.perf_counter() - started:.1f} s")
            url, token = server.url, server.token
        await _measure(url, token)


async def _measure(url: str, token: str) -> None:
    texts = [row.text for row in load_rasa_heldout()] + [row.text for row in load_heldout()]
    detector, intents = RiskDetector(), load_risk_intents()
    model = load_current(detector.normalise, detector.lexicon.version).model
    async with aiohttp.ClientSession() as session:
        rasa = RasaClient(base_url=url, token=token, timeout=10.0, http=lambda: session)
        try:
            if not await rasa.status():
                print(f"skipped: Rasa at {url} has no model loaded")
                return
        except RasaUnavailable as exc:
            print(f"skipped: Rasa at {url} is unreachable ({exc})")
            return
        for text in texts[:20]:  # warm up connections and TensorFlow's first calls
            await rasa.parse(text)
        parse, reply, triage = [], [], []
        for round_ in range(ROUNDS):
            for n, text in enumerate(texts):
                t0 = time.perf_counter()
                await rasa.parse(text)
                parse.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await triage_text(text, detector=detector, model=model, rasa=rasa, intents=intents)
                triage.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await rasa.respond(f"bench-{round_}-{n}", text)
                reply.append(time.perf_counter() - t0)
    print(f"Rasa /model/parse ({len(texts)} held-out messages x {ROUNDS}): {describe_ms(parse)}")
    print(f"Rasa REST reply (parse + rules + response):  {describe_ms(reply)}")
    print(f"full triage (detector + model, then Rasa unless the detector says level >= 2): {describe_ms(triage)}")
