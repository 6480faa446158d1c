"""The Rasa project's content is consistent without training it: intents, answers, risk mapping."""

from __future__ import annotations

import re
from collections import Counter

import yaml

from bot.lifecycle import NLU_DIR
from bot.triage import load_risk_intents
from contract.config import PROJECT_ROOT

DOMAIN = yaml.safe_load((PROJECT_ROOT / "bot" / "domain.yml").read_text(encoding="utf-8"))
RULES = yaml.safe_load((PROJECT_ROOT / "bot" / "rules.yml").read_text(encoding="utf-8"))


def _examples() -> Counter[str]:
    counts: Counter[str] = Counter()
    for path in NLU_DIR.glob("*.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            counts[block["intent"]] += sum(1 for line in block["examples"].splitlines() if line.strip())
    return counts


def test_every_risk_intent_is_trained_with_at_least_40_examples() -> None:
    counts = _examples()
    for intent in load_risk_intents():
        assert counts[intent] >= 40, intent
        assert intent in DOMAIN["intents"]


def test_every_faq_question_has_exactly_its_answer_and_30_at_least() -> None:
    trained = {name for name in _examples() if name.startswith("faq/")}
    answers = {name.removeprefix("utter_") for name in DOMAIN["responses"] if name.startswith("utter_faq/")}
    assert trained == answers and len(answers) >= 30


def test_every_answer_is_chinese_and_offers_a_counsellor() -> None:
    for name, variants in DOMAIN["responses"].items():
        for variant in variants:
            text = variant["text"]
            assert re.search(r"[\u4e00-\u9fff]", text), name
            if name.startswith("utter_faq/"):
                last_sentence = [part for part in text.split("。") if part.strip()][-1]
                assert "转人工" in last_sentence, name


def test_every_intent_has_a_rule_and_every_rule_a_response() -> None:
    ruled = {rule["steps"][0]["intent"]: rule["steps"][1]["action"] for rule in RULES["rules"]}
    assert set(DOMAIN["intents"]) | {"nlu_fallback"} == set(ruled)
    for action in ruled.values():
        assert action == "utter_faq" or action in DOMAIN["responses"], action

