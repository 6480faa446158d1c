"""The evaluation gate: a candidate risk model becomes current only if it is not worse on the fixed splits.

Both models are scored now, with this code and lexicon, on every committed evaluation split
(``nlu_data/eval``: detector + model, no Rasa), and the candidate is refused when it loses more than
the tolerance of risk recall or level-3 recall, or gains more than it of false alarms.

The tolerance is the training noise, measured: retraining on the same data with another seed moves
the figures although nothing got better or worse (SGD's shuffle order; ``RiskModel`` averages three
runs, which narrows but does not remove it). A candidate whose loss is within what a reseeded twin of
the current model shows cannot be told from it, so it passes; a loss beyond it is refused. The
tolerance is the 95 % bound of the difference between two seeds, 1.96 x sqrt(2) x the standard
deviation of each figure over the seeds (``NOISE``; re-measure with ``youthdesk risk noise`` when the
splits or the training change much). It sits well inside the splits' own sampling error (a 95 %
bootstrap interval of level-3 recall alone is about +/-0.02), so a real loss of that size is refused.
"""

from __future__ import annotations

import asyncio
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.evaluation import RiskScores, evaluate_risk, fixed_splits
from bot.risk import RiskDetector
from bot.risk_artifact import current_path, point_to, read_artifact
from bot.risk_data import read_jsonl
from bot.risk_model import RiskModel


@dataclass(frozen=True, slots=True)
class GateFigures:
    recall: float
    level3_recall: float
    false_alarms: float

    @classmethod
    def of(cls, scores: RiskScores) -> GateFigures:
        return cls(round(scores.recall, 4), round(scores.level3_recall, 4), round(scores.false_alarm_rate, 4))

    def worse_than(self, current: GateFigures, tolerance: GateFigures | None = None) -> list[str]:
        """What the candidate loses against ``current``, beyond the tolerance."""
        allowed = tolerance or TOLERANCE
        losses = []
        if self.recall < current.recall - allowed.recall:
            losses.append(f"risk recall {self.recall:.4f} < {current.recall:.4f} - {allowed.recall}")
        if self.level3_recall < current.level3_recall - allowed.level3_recall:
            losses.append(f"level-3 recall {self.level3_recall:.4f} < {current.level3_recall:.4f} - "
                          f"{allowed.level3_recall}")
        if self.false_alarms > current.false_alarms + allowed.false_alarms:
            losses.append(f"false alarms {self.false_alarms:.4f} > {current.false_alarms:.4f} + "
                          f"{allowed.false_alarms}")
        return losses


def tolerance_from(runs: Sequence[GateFigures]) -> GateFigures:
    """The 95 % bound of the difference between two runs that differ only by seed, per figure (rounded up
    to a tenth of a percent)."""
    if len(runs) < 2:
        raise ValueError("the seed spread needs at least two runs")

    def bound(values: list[float]) -> float:
        return math.ceil(1.96 * math.sqrt(2) * statistics.stdev(values) * 1000) / 1000

    return GateFigures(recall=bound([r.recall for r in runs]), level3_recall=bound([r.level3_recall for r in runs]),
                       false_alarms=bound([r.false_alarms for r in runs]))


# The shipped corpus + a fifth of COLD train, lexicon 2026.12.06-6, seeds 1, 4, 7, 10 (SGD runs 1-12), every
# nlu_data/eval row (bot/risk_models/README.md, "Gate tolerance"). Level-3 recall did not move at all: the
# lexicon's signs and the imminence rule decide it, so the gate lets no candidate lose a level-3 message.
NOISE = (GateFigures(0.9786, 0.9519, 0.0504), GateFigures(0.9764, 0.9519, 0.0451),
         GateFigures(0.9786, 0.9519, 0.0460), GateFigures(0.9775, 0.9519, 0.0513))
TOLERANCE = GateFigures(recall=0.003, level3_recall=0.0, false_alarms=0.009)


class PromotionRefused(ValueError):
    """The candidate is worse than the current model, or cannot be read."""


@dataclass(frozen=True, slots=True)
class Promotion:
    name: str
    replaced: str | None  # the model that was current
    candidate: GateFigures | None
    current: GateFigures | None


def gate_figures(detector: RiskDetector, model: RiskModel, splits: Sequence[Path] | None = None) -> GateFigures:
    """Offline triage (detector + model) on the evaluation splits together (default: every committed one)."""
    rows = [row for split in (fixed_splits() if splits is None else splits) for row in read_jsonl(split)]
    report = asyncio.run(evaluate_risk(rows, None, detector=detector, model=model, name="fixed splits"))
    return GateFigures.of(report.offline)


def promote(candidate_path: Path, detector: RiskDetector, *, replace_stale: bool = False, first: bool = False,
            splits: Sequence[Path] | None = None) -> Promotion:
    """Make the candidate current in its own directory unless the gate refuses it.

    A directory without a current model has nothing to compare with, so only an explicit ``first``
    promotes there: a candidate trained into a scratch directory would otherwise pass ungated.
    """
    directory = candidate_path.parent
    try:
        candidate, provenance = read_artifact(candidate_path, detector.normalise)
    except (OSError, ValueError, KeyError) as exc:
        raise PromotionRefused(f"cannot read {candidate_path}: {exc!r}") from exc
    try:
        current, current_provenance = read_artifact(current_path(directory), detector.normalise)
    except FileNotFoundError:
        if not first:
            raise PromotionRefused(f"no current model in {directory} to compare {provenance.name} with: train into "
                                   "the directory the gateway loads, or pass --first for a new directory's "
                                   "first model") from None
        point_to(candidate_path, directory)
        return Promotion(provenance.name, None, None, None)
    # Both scored now, with this lexicon: a card's figures may be from another lexicon version.
    mine, theirs = gate_figures(detector, candidate, splits), gate_figures(detector, current, splits)
    losses = mine.worse_than(theirs)
    stale = (current_provenance.lexicon_version != detector.lexicon.version
             or current_provenance.features_version != provenance.features_version)
    if losses and replace_stale and stale:
        # A model trained through an older normaliser reads today's text with features it never saw in
        # training, so its figures are no baseline to hold a fresh model to; recall still must not drop.
        losses = [loss for loss in losses if not loss.startswith("false alarms")]
    if losses:
        raise PromotionRefused(f"refused, {provenance.name} is worse than {current_provenance.name} on the "
                               f"evaluation splits: {'; '.join(losses)}")
    point_to(candidate_path, directory)
    return Promotion(provenance.name, current_provenance.name, mine, theirs)
