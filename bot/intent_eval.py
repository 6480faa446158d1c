"""Intent scores of the served Rasa model on ``nlu_data/eval/rasa_heldout.yml`` (never trained on).

Accuracy, macro-F1, recall/precision per intent, FAQ answer selection (``faq/<name>``) and parse
latency, through the same ``RasaClient.parse`` the gateway uses.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import yaml

from bot.rasa_client import FAQ_INTENT, RasaParse
from contract.config import PROJECT_ROOT

RASA_HELDOUT_PATH = PROJECT_ROOT / "nlu_data" / "eval" / "rasa_heldout.yml"


class Parser(Protocol):
    async def parse(self, text: str) -> RasaParse: ...


@dataclass(frozen=True, slots=True)
class LabelledText:
    text: str
    intent: str
    response_key: str | None  # "faq/sleep" for FAQ examples


def load_rasa_heldout(path: Path = RASA_HELDOUT_PATH) -> list[LabelledText]:
    """Rasa NLU YAML (``- intent: …`` / ``examples: |``); retrieval intents as ``faq/<name>``."""
    rows: list[LabelledText] = []
    for block in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("nlu") or []:
        label = str(block["intent"])
        intent, _, _ = label.partition("/")
        for line in str(block.get("examples") or "").splitlines():
            text = line.strip().removeprefix("-").strip()
            if text:
                rows.append(LabelledText(text=text, intent=intent, response_key=label if "/" in label else None))
    return rows


@dataclass(slots=True)
class IntentReport:
    total: int = 0
    correct: int = 0
    expected: Counter[str] = field(default_factory=Counter)
    predicted: Counter[str] = field(default_factory=Counter)
    hits: Counter[str] = field(default_factory=Counter)
    faq_total: int = 0
    faq_correct: int = 0
    mistakes: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def faq_accuracy(self) -> float:
        return self.faq_correct / self.faq_total if self.faq_total else 0.0

    def recall(self, intent: str) -> float:
        return self.hits[intent] / self.expected[intent] if self.expected[intent] else 0.0

    def precision(self, intent: str) -> float:
        return self.hits[intent] / self.predicted[intent] if self.predicted[intent] else 0.0

    def f1(self, intent: str) -> float:
        p, r = self.precision(intent), self.recall(intent)
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def macro_f1(self) -> float:
        return sum(self.f1(i) for i in self.expected) / len(self.expected) if self.expected else 0.0

    def format(self) -> str:
        ordered = sorted(self.latencies)
        p50 = ordered[len(ordered) // 2] * 1000 if ordered else 0.0
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else 0.0
        lines = [f"== Rasa intents on the held-out split ({self.total} messages)",
                 f"intent accuracy          {self.accuracy:.3f}  ({self.correct}/{self.total})",
                 f"intent macro-F1          {self.macro_f1:.3f}",
                 f"FAQ answer selection     {self.faq_accuracy:.3f}  ({self.faq_correct}/{self.faq_total})",
                 f"parse latency            p50 {p50:.1f} ms, p99 {p99:.1f} ms",
                 "per intent: recall / precision / F1"]
        for intent in sorted(self.expected):
            lines.append(f"  {intent:<20} {self.recall(intent):.2f} / {self.precision(intent):.2f} / "
                         f"{self.f1(intent):.2f}  (n={self.expected[intent]})")
        if self.mistakes:
            lines.append("mistakes:")
            lines.extend(f"  - {m}" for m in self.mistakes)
        return "\n".join(lines)


async def evaluate_intents(rows: list[LabelledText], parser: Parser) -> IntentReport:
    report = IntentReport()
    for row in rows:
        started = time.perf_counter()
        parse = await parser.parse(row.text)
        report.latencies.append(time.perf_counter() - started)
        report.total += 1
        report.expected[row.intent] += 1
        report.predicted[parse.intent] += 1
        if parse.intent == row.intent:
            report.correct += 1
            report.hits[row.intent] += 1
        else:
            report.mistakes.append(f"{row.text}  expected {row.intent}, got {parse.intent} ({parse.confidence:.2f})")
        if row.response_key is not None:
            report.faq_total += 1
            if parse.intent == FAQ_INTENT and parse.response_key == row.response_key:
                report.faq_correct += 1
            elif parse.intent == FAQ_INTENT:
                report.mistakes.append(f"{row.text}  expected answer {row.response_key}, got {parse.response_key}")
    return report
