"""Calibrating the risk model's P(level >= 2) on validation data.

The logistic model is trained with balanced class weights and averaged over seeds, so its raw
P(risk) says "how risky this looks", not "how often such a message is a risk". A calibrator maps it
to the observed frequency. Two candidates, chosen by measurement:

* Platt scaling: ``sigmoid(a * logit(p) + b)``, two parameters, smooth and monotone;
* isotonic regression (pool adjacent violators): a monotone step function, as flexible as the data.

``fit_calibrator`` fits both on one half of the validation rows (split by text hash) and measures
the expected calibration error on the other half, both ways round, and keeps the method with the
lower mean; that method is then fitted on all the rows and stored in the artifact. The decision
thresholds of triage (``bot.triage``) stay on the raw scale, so calibration changes no decision:
it is reported (``youthdesk risk eval``) and carried on ``RiskScores.calibrated``.

Validation rows: the committed evaluation splits except the blind ones kept for reporting
(``REPORT_ONLY``); test splits are never read.
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

CALIBRATION_BINS = 10
_EDGE = 1e-6
Pair = tuple[float, bool]  # (raw P(risk), is it a risk)


def expected_calibration_error(pairs: Sequence[Pair], bins: int = CALIBRATION_BINS) -> float:
    """Mean gap between predicted probability and observed frequency over equal-width bins, weighted by
    how many predictions fall in each."""
    binned: dict[int, list[Pair]] = {}
    for probability, outcome in pairs:
        binned.setdefault(min(bins - 1, int(probability * bins)), []).append((probability, outcome))
    if not pairs:
        return 0.0
    gaps = (abs(sum(p for p, _ in members) - sum(o for _, o in members)) for members in binned.values())
    return sum(gaps) / len(pairs)


def _logit(p: float) -> float:
    p = min(1 - _EDGE, max(_EDGE, p))
    return math.log(p / (1 - p))


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass(frozen=True, slots=True)
class Calibrator:
    method: Literal["platt", "isotonic"]
    # platt: [a, b]; isotonic: the upper raw bound of each block, then each block's frequency.
    xs: list[float]
    ys: list[float] = field(default_factory=list)
    rows: int = 0  # validation rows it was fitted on
    # Expected calibration error on held-out halves (two-fold, by text hash) when it was chosen.
    chosen_by: dict[str, float] = field(default_factory=dict)

    def apply(self, probability: float) -> float:
        if self.method == "platt":
            a, b = self.xs
            return _sigmoid(a * _logit(probability) + b)
        return self.ys[min(len(self.ys) - 1, bisect.bisect_left(self.xs, probability))]

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "xs": self.xs, "ys": self.ys, "rows": self.rows, "chosen_by": self.chosen_by}

    @classmethod
    def from_json(cls, data: dict) -> Calibrator:  # type: ignore[type-arg]
        if data.get("method") not in ("platt", "isotonic"):
            raise ValueError(f"unknown calibration method {data.get('method')!r}")
        return cls(method=data["method"], xs=[float(x) for x in data["xs"]], ys=[float(y) for y in data["ys"]],
                   rows=int(data.get("rows", 0)), chosen_by=dict(data.get("chosen_by", {})))


def fit_platt(pairs: Sequence[Pair]) -> Calibrator:
    """Newton's method with step halving on the log loss of ``sigmoid(a * logit(p) + b)``; a tiny ridge
    keeps it finite when the classes separate."""
    xs = [_logit(p) for p, _ in pairs]
    ys = [float(y) for _, y in pairs]

    def loss(a: float, b: float) -> float:
        total = 0.5e-3 * a * a
        for x, y in zip(xs, ys, strict=True):
            z = a * x + b  # log(1 + e^z) - y z, computed without overflow
            total += max(z, 0.0) + math.log1p(math.exp(-abs(z))) - y * z
        return total

    a, b = 1.0, 0.0
    current = loss(a, b)
    for _ in range(100):
        ga, gb, haa, hab, hbb = 1e-3 * a, 0.0, 1e-3, 0.0, 1e-9
        for x, y in zip(xs, ys, strict=True):
            q = _sigmoid(a * x + b)
            weight = q * (1 - q)
            ga, gb = ga + (q - y) * x, gb + (q - y)
            haa, hab, hbb = haa + weight * x * x, hab + weight * x, hbb + weight
        det = haa * hbb - hab * hab
        step_a, step_b = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
        shrink = 1.0
        while shrink > 1e-6 and (trial := loss(a - shrink * step_a, b - shrink * step_b)) > current:
            shrink /= 2
        if shrink <= 1e-6 or current - trial < 1e-10:
            break
        a, b, current = a - shrink * step_a, b - shrink * step_b, trial
    return Calibrator("platt", [a, b], rows=len(pairs))


def fit_isotonic(pairs: Sequence[Pair]) -> Calibrator:
    """Pool adjacent violators over the pairs sorted by raw probability."""
    blocks: list[list[float]] = []  # [upper raw bound, positives, count]
    for probability, outcome in sorted(pairs):
        blocks.append([probability, float(outcome), 1.0])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][2] >= blocks[-1][1] / blocks[-1][2]:
            upper, positives, count = blocks.pop()
            blocks[-1] = [upper, blocks[-1][1] + positives, blocks[-1][2] + count]
    return Calibrator("isotonic", [upper for upper, _, _ in blocks], [pos / n for _, pos, n in blocks], rows=len(pairs))


FITTERS = {"platt": fit_platt, "isotonic": fit_isotonic}


def halves(texts: Sequence[str]) -> list[bool]:
    """Which half each row falls in, by text hash: the same split on every machine."""
    return [hashlib.sha256(text.encode()).digest()[0] % 2 == 0 for text in texts]


def fit_calibrator(pairs: Sequence[Pair], texts: Sequence[str]) -> Calibrator:
    """The method with the lower two-fold held-out calibration error, fitted on all ``pairs``."""
    side = halves(texts)
    folds = ([pair for pair, first in zip(pairs, side, strict=True) if first],
             [pair for pair, first in zip(pairs, side, strict=True) if not first])
    if not all(any(y for _, y in fold) and not all(y for _, y in fold) for fold in folds):
        raise ValueError("calibration needs risks and non-risks in both halves of the validation rows")
    chosen_by = {"raw": _mean(expected_calibration_error(fold) for fold in folds)}
    for method, fit in FITTERS.items():
        errors = []
        for train, held in (folds, folds[::-1]):
            calibrator = fit(train)
            errors.append(expected_calibration_error([(calibrator.apply(p), y) for p, y in held]))
        chosen_by[method] = _mean(errors)
    method = min(FITTERS, key=lambda name: (chosen_by[name], name != "platt"))  # a tie goes to the smoother one
    fitted = FITTERS[method](pairs)
    return Calibrator(fitted.method, fitted.xs, fitted.ys, rows=len(pairs),
                      chosen_by={key: round(value, 4) for key, value in chosen_by.items()})


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items)
