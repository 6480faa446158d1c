"""Risk evaluation on the held-out split: the detector alone, detector + learned model (what
triage decides without Rasa) and, with Rasa reachable, full triage.

``youthdesk bot eval`` (bot/cli.py) prints ``evaluate_risk(rows, rasa).format()``; the figures
are the ones the issue sets targets for: risk (level >= 2) recall, false alarms on non-risk
messages, level-3 recall, recall per category and a level confusion matrix.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.lexicon import CATEGORIES
from bot.risk import RiskDetector
from bot.risk_model import RiskModel, repository_model
from bot.triage import IntentParser, load_risk_intents, triage_text
from contract.config import PROJECT_ROOT

HELDOUT_PATH = PROJECT_ROOT / "nlu_data" / "eval" / "heldout.jsonl"


@dataclass(frozen=True, slots=True)
class EvalRow:
    text: str
    intent: str
    risk: int
    category: str | None


def load_heldout(path: Path = HELDOUT_PATH) -> list[EvalRow]:
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        data = json.loads(line)
        if not isinstance(data.get("text"), str) or data.get("risk") not in (0, 1, 2, 3):
            raise ValueError(f"{path}:{number}: needs text and risk 0-3")
        rows.append(EvalRow(text=data["text"], intent=data.get("intent", ""), risk=data["risk"],
                            category=data.get("category")))
    return rows


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
    category_total: Counter[str] = field(default_factory=Counter)
    category_hits: Counter[str] = field(default_factory=Counter)
    category_right: Counter[str] = field(default_factory=Counter)
    confusion: Counter[tuple[int, int]] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)

    def add(self, row: EvalRow, risk: int, category: str | None) -> None:
        self.total += 1
        self.confusion[(row.risk, risk)] += 1
        if row.risk >= 2:
            self.risk_total += 1
            self.risk_hits += risk >= 2
            cat = row.category or "?"
            self.category_total[cat] += 1
            self.category_hits[cat] += risk >= 2
            self.category_right[cat] += risk >= 2 and category == row.category
            if risk < 2:
                self.misses.append(row.text)
        else:
            self.safe_total += 1
            if risk >= 2:
                self.false_alarms += 1
                self.alarms.append(row.text)
        if row.risk == 3:
            self.level3_total += 1
            self.level3_hits += risk == 3

    @property
    def recall(self) -> float:
        return self.risk_hits / self.risk_total if self.risk_total else 0.0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.safe_total if self.safe_total else 0.0

    @property
    def level3_recall(self) -> float:
        return self.level3_hits / self.level3_total if self.level3_total else 0.0

    def format(self) -> str:
        lines = [f"== {self.name} ({self.total} messages)",
                 f"risk recall (level>=2)   {self.recall:.3f}  ({self.risk_hits}/{self.risk_total})",
                 f"false alarms (non-risk)  {self.false_alarm_rate:.3f}  ({self.false_alarms}/{self.safe_total})",
                 f"level-3 recall           {self.level3_recall:.3f}  ({self.level3_hits}/{self.level3_total})",
                 "per category: recall (level>=2) / right category"]
        for cat in [c for c in CATEGORIES if self.category_total[c]]:
            n = self.category_total[cat]
            lines.append(f"  {cat:<15} {self.category_hits[cat] / n:.3f} / {self.category_right[cat] / n:.3f}  (n={n})")
        lines.append("confusion (rows = expected level, columns = predicted 0 1 2 3)")
        for expected in range(4):
            cells = " ".join(f"{self.confusion[(expected, got)]:4d}" for got in range(4))
            lines.append(f"  {expected}: {cells}")
        for title, texts in (("missed", self.misses), ("false alarms", self.alarms)):
            if texts:
                lines.append(f"{title} (first 10):")
                lines.extend(f"  - {text}" for text in texts[:10])
        return "\n".join(lines)


@dataclass(slots=True)
class RiskReport:
    detector: RiskScores
    offline: RiskScores  # detector + model: what triage decides while Rasa is down
    triage: RiskScores | None
    lexicon_version: str
    rasa_note: str

    def format(self) -> str:
        parts = [f"risk evaluation, lexicon {self.lexicon_version}", self.detector.format(), self.offline.format()]
        skipped = f"== triage with Rasa: skipped ({self.rasa_note})"
        parts.append(self.triage.format() if self.triage is not None else skipped)
        return "\n\n".join(parts)


def _rows(rows: Iterable[EvalRow | Mapping[str, Any]]) -> list[EvalRow]:
    return [row if isinstance(row, EvalRow) else EvalRow(text=row["text"], intent=row.get("intent", ""),
                                                          risk=row["risk"], category=row.get("category"))
            for row in rows]


async def evaluate_risk(rows: Iterable[EvalRow | Mapping[str, Any]], rasa: IntentParser | None,
                        detector: RiskDetector | None = None, model: RiskModel | None = None) -> RiskReport:
    """Score the detector alone, detector + model without Rasa and, when ``rasa`` answers, the
    combined triage (the live path)."""
    detector = detector or RiskDetector()
    model = model or repository_model(detector)
    intents = load_risk_intents()
    items = _rows(rows)
    alone = RiskScores("detector alone")
    offline = RiskScores("detector + model (no Rasa)")
    for row in items:
        result = detector.assess(row.text)
        alone.add(row, result.level, result.category)
        decision = await triage_text(row.text, detector=detector, model=model, rasa=None, intents=intents)
        offline.add(row, decision.risk, decision.category)
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
    return RiskReport(detector=alone, offline=offline, triage=combined, lexicon_version=detector.lexicon.version,
                      rasa_note=note)


def main(argv: list[str] | None = None) -> None:
    """``python -m bot.evaluation [split.jsonl]``: the detector, and detector + model, report (no Rasa needed).

    Without an argument it scores the held-out split; a path scores another split in the same
    format (e.g. ``nlu_data/eval/blind6.jsonl``).
    """
    import asyncio
    import sys

    args = sys.argv[1:] if argv is None else argv
    rows = load_heldout(Path(args[0])) if args else load_heldout()
    print(asyncio.run(evaluate_risk(rows, None)).format())


if __name__ == "__main__":
    main()
