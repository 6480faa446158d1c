"""Risk detector and risk model latency per message over the held-out split (x ROUNDS), the
model's training time, triage without Rasa (detector + model) and triage latency with Rasa.

Triage with Rasa runs only when ``RASA_URL`` points at a reachable server with a model loaded
(``RASA_TOKEN`` optional); otherwise the bench says why it was skipped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import aiohttp

from bench._stats import describe_ms
from bot.evaluation import load_heldout
from bot.rasa_client import make_rasa_client
from bot.risk import RiskDetector
from bot.risk_model import RiskModel, load_training_messages
from bot.triage import IntentParser, load_risk_intents, triage_text
from contract.config import ServiceConfig

ROUNDS = 20


async def main() -> None:
    rows = load_heldout()
    started = time.perf_counter()
    detector = RiskDetector()
    print(f"risk detector: start-up (lexicon + jieba dictionary) {time.perf_counter() - started:.2f} s")
    texts = [row.text for row in rows]
    for text in texts:  # warm jieba's lazy structures once
        detector.assess(text)
    samples = _per_message(detector.assess, texts)
    print(f"risk detector per message ({len(rows)} held-out messages x {ROUNDS}): {describe_ms(samples)}")

    corpus = load_training_messages()
    started = time.perf_counter()
    model = RiskModel.train(detector.normalise, corpus)
    print(f"risk model: training on {len(corpus)} messages {time.perf_counter() - started:.2f} s")
    samples = _per_message(model.scores, texts)
    print(f"risk model per message ({len(rows)} held-out messages x {ROUNDS}): {describe_ms(samples)}")
    intents = load_risk_intents()

    async def triage_latencies(rasa: IntentParser | None) -> list[float]:
        latencies: list[float] = []
        for text in texts:
            t0 = time.perf_counter()
            await triage_text(text, detector=detector, model=model, rasa=rasa, intents=intents)
            latencies.append(time.perf_counter() - t0)
        return latencies

    print(f"triage without Rasa (detector + model), per message: {describe_ms(await triage_latencies(None))}")

    url = os.environ.get("RASA_URL", "")
    if not url:
        print("triage with Rasa: skipped (RASA_URL is not set)")
        return
    service = ServiceConfig(rasa_url=url, rasa_token=os.environ.get("RASA_TOKEN", ""))
    async with aiohttp.ClientSession() as session:
        rasa = make_rasa_client(service, lambda: session)
        if rasa is None:
            print("triage with Rasa: skipped (bot.rasa_client is not installed)")
            return
        try:
            up = await rasa.status()
        except Exception as exc:  # noqa: BLE001 - report, do not crash the bench run
            print(f"triage with Rasa: skipped (Rasa at {url} unreachable: {exc!r})")
            return
        if not up:
            print(f"triage with Rasa: skipped (Rasa at {url} has no model loaded)")
            return
        print(f"triage with Rasa ({url}), per message: {describe_ms(await triage_latencies(rasa))}")


def _per_message(score: Callable[[str], object], texts: list[str]) -> list[float]:
    """Seconds per call of ``score`` over ``texts``, ROUNDS times."""
    samples: list[float] = []
    for _ in range(ROUNDS):
        for text in texts:
            t0 = time.perf_counter()
            score(text)
            samples.append(time.perf_counter() - t0)
    return samples
