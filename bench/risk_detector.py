"""Risk triage: detector and model start-up and latency, long messages (cost per character next to the
held-out messages'), then ``youthdesk risk eval`` on the committed evaluation splits and, when present,
the public validation sets; triage latency with Rasa.

The public sets are never in the repository: convert them (``youthdesk risk data convert``, see
bot/risk_models/README.md) into ``$YOUTHDESK_RISK_DATA`` (default ``~/.cache/youthdesk/risk-data``)
as ``sos4k_val.jsonl`` and ``cold_dev.jsonl``; absent, the bench says so and goes on.
Triage with Rasa runs only when ``RASA_URL`` points at a reachable server with a model loaded
(``RASA_TOKEN`` optional); otherwise the bench says why it was skipped.
"""

from __future__ import annotations

import os
import re
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

from bench._stats import describe_ms
from bot.evaluation import evaluate_risk, fixed_splits, load_heldout
from bot.rasa_client import make_rasa_client
from bot.risk import RiskDetector
from bot.risk_artifact import load_current
from bot.risk_data import read_jsonl
from bot.risk_model import RiskModel
from bot.triage import IntentParser, load_risk_intents, triage_text
from contract.config import ServiceConfig

ROUNDS = 20
LONG_ROUNDS = 3
PUBLIC_SETS = ("sos4k_val.jsonl", "cold_dev.jsonl")


def public_data_dir() -> Path:
    return Path(os.environ.get("YOUTHDESK_RISK_DATA") or Path.home() / ".cache" / "youthdesk" / "risk-data")


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
    _long_messages(detector, texts, sum(samples) / (ROUNDS * sum(map(len, texts))))

    started = time.perf_counter()
    loaded = load_current(detector.normalise, detector.lexicon.version)
    print(f"risk model: artifact load {time.perf_counter() - started:.2f} s ({loaded.detail})")
    model = loaded.model
    if model is not None:
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
    await _evaluations(detector, model)
    await _with_rasa(triage_latencies)


async def _evaluations(detector: RiskDetector, model: RiskModel | None) -> None:
    """``youthdesk risk eval`` without the example lists: the figures the issue sets targets for."""
    paths = list(fixed_splits())
    directory = public_data_dir()
    present = [directory / name for name in PUBLIC_SETS if (directory / name).is_file()]
    if missing := [name for name in PUBLIC_SETS if not (directory / name).is_file()]:
        print(f"public validation sets absent: {', '.join(missing)} not in {directory} (set YOUTHDESK_RISK_DATA; "
              "bot/risk_models/README.md says how to download and convert them)")
    every = [row for path in paths for row in read_jsonl(path)]
    report = await evaluate_risk(every, None, detector=detector, model=model, name=f"{len(paths)} committed splits")
    print(report.format(examples=False))
    for path in present:
        report = await evaluate_risk(read_jsonl(path), None, detector=detector, model=model, name=str(path))
        print(report.format(examples=False))


async def _with_rasa(triage_latencies: Callable[[IntentParser | None], Awaitable[list[float]]]) -> None:
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


def _long_messages(detector: RiskDetector, texts: list[str], baseline: float) -> None:
    """Seconds per character of long messages next to ``baseline``, the held-out messages' own: the held-out
    messages joined as they are, joined with every punctuation mark and space taken out (one clause), and
    one cue repeated ("我想死" x 667: each cue reads the clause around it). Linear cost keeps each row's
    figure near the baseline at 2,000 and at 20,000 characters alike."""
    joined = "".join(texts)
    bare = re.sub(r"[\s，。！？；、,.!?;:：…~～]", "", joined)
    print(f"risk detector, held-out messages (baseline): {baseline * 1e6:.1f} µs per character")
    for length in (2_000, 20_000):
        for name, text in (("held-out messages joined", joined), ("the same without punctuation", bare),
                           ("我想死 repeated", "我想死")):
            message = (text * (length // len(text) + 1))[:length]
            samples = _per_message(detector.assess, [message], rounds=LONG_ROUNDS)
            print(f"risk detector, {length:,} characters, {name}: {describe_ms(samples)} · "
                  f"{statistics.fmean(samples) / length * 1e6:.1f} µs per character")


def _per_message(score: Callable[[str], object], texts: list[str], rounds: int = ROUNDS) -> list[float]:
    """Seconds per call of ``score`` over ``texts``, ``rounds`` times."""
    samples: list[float] = []
    for _ in range(rounds):
        for text in texts:
            t0 = time.perf_counter()
            score(text)
            samples.append(time.perf_counter() - t0)
    return samples
