"""Risk evaluation: the detector alone, detector + learned model (what triage decides without Rasa)
and, with Rasa reachable, full triage, on any labelled split.

``youthdesk risk eval PATH...`` (bot/risk_cli.py) and ``youthdesk bot eval`` print
``evaluate_risk(rows, rasa).format()``: risk (level >= 2) recall, false alarms on non-risk messages,
level-3 recall, recall and right category per category, the level confusion matrix, the model's
calibration (expected calibration error of P(level >= 2)) and the per-message latency of triage.
A row counts towards the figures its label can answer (``LabelledRow.risky``): SOS4K's urgency
2-5 counts in neither recall nor false alarms, only in the urgency table.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.lexicon import CATEGORIES
from bot.risk import RiskDetector
from bot.risk_artifact import load_current
from bot.risk_calibration import CALIBRATION_BINS, expected_calibration_error
from bot.risk_data import LabelledRow, read_jsonl
from bot.risk_model import RiskModel
from bot.triage import IntentParser, load_risk_intents, triage_text
from contract.config import PROJECT_ROOT

EVAL_DIR = PROJECT_ROOT / "nlu_data" / "eval"
HELDOUT_PATH = EVAL_DIR / "heldout.jsonl"


def load_heldout(path: Path = HELDOUT_PATH) -> list[LabelledRow]:
    return read_jsonl(path)


def fixed_splits() -> list[Path]:
    """The project's committed evaluation splits (never trained on; a test checks)."""
    return sorted(EVAL_DIR.glob("*.jsonl"))


@dataclass(slots=True)
class RiskScores:
    name: str
    total: int = 0
    risk_total: int = 0
    risk_hits: int = 0
    safe_total: int = 0
    false_alarms: int = 0
    level3_total: int = 0
    level3_hits: int = 0
    flagged_level3_safe: int = 0
    category_total: Counter[str] = field(default_factory=Counter)
    category_hits: Counter[str] = field(default_factory=Counter)
    category_right: Counter[str] = field(default_factory=Counter)
    confusion: Counter[tuple[int, int]] = field(default_factory=Counter)
    urgency_total: Counter[int] = field(default_factory=Counter)
    urgency_flagged: Counter[int] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)

    def add(self, row: LabelledRow, risk: int, category: str | None) -> None:
        self.total += 1
        if row.level is not None:
            self.confusion[(row.level, risk)] += 1
        if row.urgency is not None:
            self.urgency_total[row.urgency] += 1
            self.urgency_flagged[row.urgency] += risk >= 2
        if row.risky:
            self.risk_total += 1
            self.risk_hits += risk >= 2
            if row.category:
                self.category_total[row.category] += 1
                self.category_hits[row.category] += risk >= 2
                self.category_right[row.category] += risk >= 2 and category == row.category
            if risk < 2:
                self.misses.append(row.text)
        elif row.risky is False:
            self.safe_total += 1
            self.flagged_level3_safe += risk == 3
            if risk >= 2:
                self.false_alarms += 1
                self.alarms.append(row.text)
        if row.level == 3:
            self.level3_total += 1
            self.level3_hits += risk == 3

    @property
    def recall(self) -> float:
        return self.risk_hits / self.risk_total if self.risk_total else 0.0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.safe_total if self.safe_total else 0.0

    @property
    def level3_false_alarm_rate(self) -> float:
        return self.flagged_level3_safe / self.safe_total if self.safe_total else 0.0

    @property
    def level3_recall(self) -> float:
        return self.level3_hits / self.level3_total if self.level3_total else 0.0

    def format(self, examples: bool = True) -> str:
        lines = [f"== {self.name} ({self.total} messages)",
                 f"risk recall (level>=2)   {self.recall:.3f}  ({self.risk_hits}/{self.risk_total})",
                 f"false alarms (non-risk)  {self.false_alarm_rate:.3f}  ({self.false_alarms}/{self.safe_total})"
                 f"  of which level 3: {self.level3_false_alarm_rate:.3f} ({self.flagged_level3_safe})",
                 f"level-3 recall           {self.level3_recall:.3f}  ({self.level3_hits}/{self.level3_total})"]
        if self.category_total:
            lines.append("per category: recall (level>=2) / right category")
        for cat in [c for c in CATEGORIES if self.category_total[c]]:
            n = self.category_total[cat]
            lines.append(f"  {cat:<15} {self.category_hits[cat] / n:.3f} / {self.category_right[cat] / n:.3f}  (n={n})")
        if self.confusion:
            lines.append("confusion (rows = expected level, columns = predicted 0 1 2 3)")
            for expected in sorted({level for level, _ in self.confusion}):
                cells = " ".join(f"{self.confusion[(expected, got)]:5d}" for got in range(4))
                lines.append(f"  {expected}: {cells}")
        if self.urgency_total:
            lines.append("share flagged level>=2 by urgency: " + "  ".join(
                f"{u}:{self.urgency_flagged[u] / self.urgency_total[u]:.2f}" for u in sorted(self.urgency_total)))
        for title, texts in (("missed", self.misses), ("false alarms", self.alarms)):
            if texts and examples:
                lines.append(f"{title} (first 10):")
                lines.extend(f"  - {text}" for text in texts[:10])
        return "\n".join(lines)


@dataclass(slots=True)
class RiskReport:
    name: str
    detector: RiskScores
    offline: RiskScores  # detector + model: what triage decides while Rasa is down
    triage: RiskScores | None
    lexicon_version: str
    model_name: str
    rasa_note: str
    calibration_error: float | None  # of the model's P(level >= 2), on rows whose label answers it
    calibrated_error: float | None  # the same after the artifact's calibrator (None: it has none)
    latencies: list[float]  # seconds per message, triage without Rasa

    def latency_ms(self, quantile: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(quantile * (len(ordered) - 1)))] * 1000 if ordered else 0.0

    def format(self, examples: bool = True) -> str:
        ece = f"{self.calibration_error:.3f}" if self.calibration_error is not None else "n/a (no model)"
        if self.calibrated_error is not None:
            ece += f" raw, {self.calibrated_error:.3f} calibrated"
        header = (f"risk evaluation of {self.name}: lexicon {self.lexicon_version}, model {self.model_name}\n"
                  f"model calibration: ECE {ece} ({CALIBRATION_BINS} bins, P(level>=2))\n"
                  f"triage without Rasa per message: p50 {self.latency_ms(0.5):.2f} ms, "
                  f"p99 {self.latency_ms(0.99):.2f} ms")
        parts = [header, self.detector.format(examples), self.offline.format(examples)]
        skipped = f"== triage with Rasa: skipped ({self.rasa_note})"
        parts.append(self.triage.format(examples) if self.triage is not None else skipped)
        return "\n\n".join(parts)


async def evaluate_risk(rows: Iterable[LabelledRow], rasa: IntentParser | None, detector: RiskDetector | None = None,
                        model: RiskModel | None = None, name: str = "split") -> RiskReport:
    """Score the detector alone, detector + model without Rasa and, when ``rasa`` answers, the
    combined triage (the live path). Without ``model`` the promoted artifact is used."""
    detector = detector or RiskDetector()
    model_name = "given"
    if model is None:
        loaded = load_current(detector.normalise, detector.lexicon.version)
        model = loaded.model
        model_name = loaded.provenance.name if loaded.provenance else "none (lexicon only)"
    intents = load_risk_intents()
    items = list(rows)
    alone = RiskScores("detector alone")
    offline = RiskScores("detector + model (no Rasa)")
    calibration: list[tuple[float, bool]] = []
    calibrated: list[tuple[float, bool]] = []
    latencies: list[float] = []
    for row in items:
        result = detector.assess(row.text)
        alone.add(row, result.level, result.category)
        started = time.perf_counter()
        decision = await triage_text(row.text, detector=detector, model=model, rasa=None, intents=intents)
        latencies.append(time.perf_counter() - started)
        offline.add(row, decision.risk, decision.category)
        if model is not None and row.risky is not None:
            scores = model.scores(row.text)
            calibration.append((scores.risk, row.risky))
            if scores.calibrated is not None:
                calibrated.append((scores.calibrated, row.risky))
    combined: RiskScores | None = None
    note = "no Rasa client given"
    if rasa is not None:
        status = getattr(rasa, "status", None)
        reachable = await status() if status is not None else True
        if reachable:
            combined = RiskScores("triage (detector + model + Rasa)")
            for row in items:
                decision = await triage_text(row.text, detector=detector, model=model, rasa=rasa, intents=intents)
                combined.add(row, decision.risk, decision.category)
        else:
            note = "Rasa not reachable or no model loaded"
    return RiskReport(name=name, detector=alone, offline=offline, triage=combined,
                      lexicon_version=detector.lexicon.version, model_name=model_name, rasa_note=note,
                      calibration_error=expected_calibration_error(calibration) if model is not None else None,
                      calibrated_error=expected_calibration_error(calibrated) if calibrated else None,
                      latencies=latencies)


def main(argv: list[str] | None = None) -> None:
    """``python -m bot.evaluation [split.jsonl]``: the held-out split, or another (``youthdesk risk eval``
    takes several and the public sets)."""
    import asyncio
    import sys

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else HELDOUT_PATH
    print(asyncio.run(evaluate_risk(load_heldout(path), None, name=str(path))).format())


if __name__ == "__main__":
    main()
