"""A learned second opinion on risk: logistic regression over character n-grams.

The lexicon recognises what it names; this model recognises what a message resembles. It
answers two questions about a youth message, each as a probability:

* ``risk``: is this level 2 or above? Trained on every labelled message in
  ``nlu_data/levels/*.jsonl``, on the safe examples frozen from Rasa's data
  (``nlu_data/risk_safe_examples.jsonl``: greetings, FAQ questions, the out-of-scope and hard
  negatives) and on the examples of Rasa's risk intents, plus any extra rows given.
* ``imminent``: given a risk, is the danger now (level 3)? Trained on the level 2 and level 3
  messages of ``nlu_data/levels`` only: Rasa's examples carry no level. This is what catches a
  level 3 told without the lexicon's words ("药已经吃了一整瓶 现在有点晕").

And it names the risk's likeliest ``category`` (naive Bayes over the same features, trained on
every labelled risk: the level corpus and Rasa's risk-intent examples): on the evaluation splits it
names the right one more often than the lexicon's rules or Rasa's intent.

Features are the character uni-, bi- and trigrams of the detector's normalised text (slang,
emoji and dodges already rewritten, chat hyperbole blanked), so the model and the lexicon read
the same message. Training is plain stochastic gradient descent with class weights, run with three
seeds and the weights averaged, in pure Python, identical on every machine. It happens offline
(``youthdesk risk train``, which may add COLD's comments as hard negatives and reviewed feedback);
the gateway loads the promoted artifact (``bot.risk_artifact``) in a fraction of a second. Scoring one
message takes about 0.03 ms. A semantic encoder (multilingual-e5-small, 4-bit, with a linear head)
was measured against and next to this model and lost on our evaluation splits and on latency
(``bench/risk_encoder.py``, bot/risk_models/README.md).
"""

from __future__ import annotations

import base64
import json
import logging
import math
import random
import time
from array import array
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.lexicon import CATEGORIES
from bot.risk_calibration import Calibrator
from contract.config import PROJECT_ROOT

log = logging.getLogger("youthdesk.risk_model")

LEVELS_DIR = PROJECT_ROOT / "nlu_data" / "levels"
NLU_DIR = PROJECT_ROOT / "nlu_data" / "nlu"
# Rasa's non-risk examples as the risk model reads them, frozen: FAQ data changes every week and a
# question that tells of harm ("我朋友说想自杀我该怎么办") is no safe row, so new Rasa examples never
# become level-0 rows by themselves; a row enters or leaves this file as a risk-model change (README).
SAFE_EXAMPLES_PATH = PROJECT_ROOT / "nlu_data" / "risk_safe_examples.jsonl"
RISK_INTENTS_PATH = PROJECT_ROOT / "nlu_data" / "risk_intents.yml"
_EPOCHS = 5
_LEARNING_RATE = 0.3
# Decay applies to the features an example has, so the features seen most (punctuation, common
# characters) shrink most. At 1e-4 "！" weighed -4.95 and "？" -2.14 in log-odds, and a four-word
# request for a suicide pact ending in "？" scored P 0.01. At 1e-2, on the same data, false alarms on
# blind1-16 fall from 0.038 to 0.034 and SOS4K train's calm posts flagged from 0.206 to 0.165, recall
# unchanged (bot/risk_models/README.md).
_L2 = 1e-2
_RUNS = 3  # SGD runs averaged, seeded seed, seed + 1, seed + 2
DEFAULT_SEED = 1
_NEGLIGIBLE = 1e-3  # a weight this small moves a probability by less than 0.03 % per feature
# Names what the features and the training mean: bump it when _features or the training changes, so
# an artifact trained by other code is known for what it is.
FEATURES_VERSION = "char-ngram-1-3/v3"
_SEPARATOR = "\x1f"  # between features in an artifact: the unit separator, never in a normalised message
_SMOOTHING = 0.1  # naive Bayes: a feature never seen with a category is rare, not impossible


@dataclass(frozen=True, slots=True)
class LabelledMessage:
    text: str
    level: int | None  # None: a risk (level >= 2) of unknown level, from Rasa's risk intents
    category: str | None = None  # known for every risk


@dataclass(frozen=True, slots=True)
class RiskScores:
    risk: float  # P(level >= 2)
    imminent: float  # P(level 3 | level >= 2)
    category: str  # the likeliest category if it is a risk
    calibrated: float | None = None  # P(risk) mapped to observed frequency; None without a calibrator


class _Logistic:
    """Binary logistic regression over sets of string features."""

    def __init__(self, weights: dict[str, float], bias: float) -> None:
        self.weights = weights
        self.bias = bias

    @classmethod
    def fit(cls, rows: list[tuple[tuple[str, ...], bool]], seed: int) -> _Logistic:
        """One run of SGD per seed, weights averaged: a single run's result depends on the order it
        saw the examples in (a level-3 recall could move by 0.08 between seeds); the average does not.
        Weights that end near zero are dropped: they keep the shipped artifact small and move no score."""
        positives = sum(1 for _, label in rows if label)
        if not rows or positives in (0, len(rows)):
            raise ValueError("training needs positive and negative examples")
        runs = [cls._descend(rows, positives, seed + offset) for offset in range(_RUNS)]
        features = set().union(*(weights for weights, _ in runs))
        averaged = {f: sum(run.get(f, 0.0) for run, _ in runs) / len(runs) for f in features}
        return cls({f: w for f, w in averaged.items() if abs(w) >= _NEGLIGIBLE},
                   sum(bias for _, bias in runs) / len(runs))

    @staticmethod
    def _descend(rows: list[tuple[tuple[str, ...], bool]], positives: int,
                 seed: int) -> tuple[dict[str, float], float]:
        # Balanced class weights: a rare class (level 3) counts as much as a common one.
        weight = {True: len(rows) / (2 * positives), False: len(rows) / (2 * (len(rows) - positives))}
        weights: dict[str, float] = {}
        bias = 0.0
        order = list(range(len(rows)))
        shuffle = random.Random(seed).shuffle
        for epoch in range(_EPOCHS):
            shuffle(order)
            rate = _LEARNING_RATE / (1 + epoch)
            for index in order:
                features, label = rows[index]
                error = (_sigmoid(bias + sum(weights.get(f, 0.0) for f in features)) - label) * weight[label]
                bias -= rate * error
                for feature in features:
                    current = weights.get(feature, 0.0)
                    weights[feature] = current - rate * (error + _L2 * current)
        return weights, bias

    def probability(self, features: Iterable[str]) -> float:
        return _sigmoid(self.bias + sum(self.weights.get(f, 0.0) for f in features))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class _NaiveBayes:
    """Multinomial naive Bayes over feature sets: one counting pass, so eight classes cost nothing."""

    def __init__(self, labels: list[str], priors: list[float], rows: dict[str, tuple[float, ...]]) -> None:
        self.labels = labels  # a fixed order for ties
        self.priors = priors
        # One row per feature, one column per label: scoring sums columns in C (zip), not in a loop.
        self.rows = rows

    @classmethod
    def fit(cls, rows: list[tuple[tuple[str, ...], str]]) -> _NaiveBayes:
        counts: dict[str, Counter[str]] = {}
        for features, label in rows:
            counts.setdefault(label, Counter()).update(features)
        labels = sorted(counts)
        vocabulary = frozenset().union(*counts.values())
        priors, columns = [], []
        for label in labels:
            seen = counts[label]
            total = sum(seen.values()) + _SMOOTHING * len(vocabulary)
            priors.append(math.log(sum(1 for _, other in rows if other == label) / len(rows)))
            columns.append({f: math.log((seen[f] + _SMOOTHING) / total) for f in vocabulary})
        return cls(labels, priors, {f: tuple(column[f] for column in columns) for f in sorted(vocabulary)})

    def likeliest(self, features: Iterable[str]) -> str:
        rows = [self.rows[f] for f in features if f in self.rows]
        columns = zip(*rows, strict=True) if rows else ((),) * len(self.labels)
        totals = [prior + sum(column) for prior, column in zip(self.priors, columns, strict=True)]
        return self.labels[totals.index(max(totals))]


class RiskModel:
    def __init__(self, normalise: Callable[[str], str], risk: _Logistic, imminent: _Logistic,
                 categories: _NaiveBayes, examples: int, calibrator: Calibrator | None = None) -> None:
        self._normalise = normalise
        self._risk = risk
        self._imminent = imminent
        self._categories = categories
        self.examples = examples
        self.calibrator = calibrator  # fitted after training, on validation data (bot.risk_calibration)

    @classmethod
    def train(cls, normalise: Callable[[str], str], messages: list[LabelledMessage],
              seed: int = DEFAULT_SEED) -> RiskModel:
        started = time.monotonic()
        featured = [(_features(normalise(m.text)), m) for m in messages]
        risk = _Logistic.fit([(features, m.level is None or m.level >= 2) for features, m in featured], seed)
        imminent = _Logistic.fit([(features, m.level == 3) for features, m in featured
                                  if m.level is not None and m.level >= 2], seed)
        categories = _NaiveBayes.fit([(features, m.category) for features, m in featured if m.category])
        log.info("risk model trained on %d messages in %.1f s", len(messages), time.monotonic() - started)
        return cls(normalise, risk, imminent, categories, len(messages))

    def parameters(self) -> dict[str, object]:
        """Everything learned, as JSON-ready data (``bot.risk_artifact`` writes it). Numbers travel as
        base64 float32 arrays and features as one joined string: JSON lists of 200,000 floats and
        strings take a second to parse, these a tenth of that."""
        nb = self._categories
        parameters = {"risk": _pack_logistic(self._risk), "imminent": _pack_logistic(self._imminent),
                      "categories": {"labels": nb.labels, "priors": nb.priors, "features": _join(nb.rows),
                                     "table": _pack([value for row in nb.rows.values() for value in row])},
                      "examples": self.examples}
        if self.calibrator is not None:
            parameters["calibrator"] = self.calibrator.to_json()
        return parameters

    def calibrated(self, calibrator: Calibrator | None) -> RiskModel:
        """The same model with ``calibrator`` on P(risk)."""
        return RiskModel(self._normalise, self._risk, self._imminent, self._categories, self.examples, calibrator)

    @classmethod
    def from_parameters(cls, normalise: Callable[[str], str], data: dict) -> RiskModel:  # type: ignore[type-arg]
        nb = data["categories"]
        cells = iter(_unpack(nb["table"]))
        rows = dict(zip(nb["features"].split(_SEPARATOR), zip(*[cells] * len(nb["labels"]), strict=True), strict=True))
        # Artifacts written before calibration have no calibrator: they load, uncalibrated.
        calibrator = Calibrator.from_json(data["calibrator"]) if data.get("calibrator") else None
        return cls(normalise, _unpack_logistic(data["risk"]), _unpack_logistic(data["imminent"]),
                   _NaiveBayes(nb["labels"], nb["priors"], rows), data["examples"], calibrator)

    def scores(self, text: str) -> RiskScores:
        features = _features(self._normalise(text))
        risk = self._risk.probability(features)
        return RiskScores(risk=risk, imminent=self._imminent.probability(features),
                          category=self._categories.likeliest(features),
                          calibrated=self.calibrator.apply(risk) if self.calibrator is not None else None)


def _join(features: Collection[str]) -> str:
    joined = _SEPARATOR.join(features)
    if joined.count(_SEPARATOR) + 1 != len(features):
        raise ValueError("a feature contains the separator")
    return joined


def _pack(values: list[float]) -> str:
    return base64.b64encode(array("f", values).tobytes()).decode("ascii")


def _unpack(packed: str) -> list[float]:
    return array("f", base64.b64decode(packed)).tolist()


def _pack_logistic(logistic: _Logistic) -> dict[str, object]:
    weights = logistic.weights
    return {"bias": logistic.bias, "features": _join(weights), "weights": _pack(list(weights.values()))}


def _unpack_logistic(data: dict) -> _Logistic:  # type: ignore[type-arg]
    features = data["features"].split(_SEPARATOR)
    return _Logistic(dict(zip(features, _unpack(data["weights"]), strict=True)), data["bias"])


def _features(text: str) -> tuple[str, ...]:
    padded = f"^{text}$"
    grams = {padded[i:i + n] for n in (1, 2, 3) for i in range(len(padded) - n + 1)}
    return tuple(sorted(grams))  # a fixed order: the same float sums on every run


def load_training_messages(levels_dir: Path = LEVELS_DIR, nlu_dir: Path = NLU_DIR,
                           risk_intents_path: Path = RISK_INTENTS_PATH,
                           safe_path: Path = SAFE_EXAMPLES_PATH) -> list[LabelledMessage]:
    """The labelled level corpus, the frozen safe examples, then the examples of Rasa's risk intents
    (risks of unknown level). Rasa's other intents are not read: their examples reach the model only
    through ``safe_path``."""
    messages: list[LabelledMessage] = []
    for path in sorted(levels_dir.glob("*.jsonl")):
        for number, row in _json_rows(path):
            risky = row.get("risk") in (2, 3)
            if (not isinstance(row.get("text"), str) or row.get("risk") not in (0, 1, 2, 3)
                    or risky != (row.get("category") in CATEGORIES)):
                raise ValueError(f"{path}:{number}: needs text, risk 0-3 and a category exactly for risk 2-3")
            messages.append(LabelledMessage(row["text"], row["risk"], row["category"] if risky else None))
    risk_intents = (yaml.safe_load(risk_intents_path.read_text(encoding="utf-8")) or {}).get("intents") or {}
    for number, row in _json_rows(safe_path):
        intent = row.get("intent")
        if not isinstance(row.get("text"), str) or not isinstance(intent, str) or intent in risk_intents:
            raise ValueError(f"{safe_path}:{number}: needs text and the Rasa intent it came from, not a risk intent")
        messages.append(LabelledMessage(row["text"], 0))
    for path in sorted(nlu_dir.glob("*.yml")):
        for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
            mapped = risk_intents.get(block.get("intent"))
            if mapped is None:
                continue  # other intents, synonyms and regexes
            for line in str(block.get("examples") or "").splitlines():
                if text := line.strip().removeprefix("-").strip():
                    messages.append(LabelledMessage(text, None, mapped["category"]))
    return messages


def _json_rows(path: Path) -> Iterator[tuple[int, dict]]:  # type: ignore[type-arg]
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            yield number, json.loads(line)
