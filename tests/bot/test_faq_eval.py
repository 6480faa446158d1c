"""bot.faq_eval without Rasa: seeded configs, kept models, FAQ scoring through triage, the report, bad input."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from bot import faq_eval, lifecycle
from bot.faq_eval import FaqScores, Miss, Triage
from bot.intent_eval import LabelledText
from bot.rasa_client import RasaParse
from bot.risk import RiskDetector
from bot.triage import load_risk_intents

CONFIG = yaml.safe_load((lifecycle.BOT_DIR / "config.yml").read_text(encoding="utf-8"))


def test_the_served_config_seeds_both_classifiers_alike() -> None:
    seeds = {c["name"]: c.get("random_seed") for c in CONFIG["pipeline"] if c["name"] in faq_eval.SEEDED_COMPONENTS}
    assert seeds == {"DIETClassifier": faq_eval.config_seed(CONFIG), "ResponseSelector": faq_eval.config_seed(CONFIG)}


def test_a_seeded_config_changes_only_the_seeds() -> None:
    seeded = faq_eval.with_seed(CONFIG, 7)
    for before, after in zip(CONFIG["pipeline"], seeded["pipeline"], strict=True):
        expected = dict(before, random_seed=7) if before["name"] in faq_eval.SEEDED_COMPONENTS else before
        assert after == expected
    assert seeded["policies"] == CONFIG["policies"]
    assert faq_eval.config_seed(CONFIG) != 7  # the served config itself is untouched


def test_kept_models_are_reused_and_missing_ones_trained_with_their_seed(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    first = faq_eval.config_seed(CONFIG)
    kept = tmp_path / faq_eval.model_name(lifecycle.data_hash(), first + 1)
    kept.write_bytes(b"trained earlier")
    trained: list[tuple[int, str, str]] = []

    def fake_train(config: Path, target: Path) -> float:
        seeds = {c.get("random_seed") for c in yaml.safe_load(config.read_text(encoding="utf-8"))["pipeline"]}
        trained.append((max(s for s in seeds if s is not None), config.name, target.name))
        target.write_bytes(b"model")
        return 1.0

    monkeypatch.setattr(lifecycle, "train_with_config", fake_train)
    models = faq_eval.train_seeds(tmp_path, [first, first + 1, first + 2])
    data_hash = lifecycle.data_hash()
    assert [m.name for m in models] == [faq_eval.model_name(data_hash, s) for s in (first, first + 1, first + 2)]
    assert kept.read_bytes() == b"trained earlier"
    assert trained == [(first, "config.yml", models[0].name), (first + 2, "config.yml", models[2].name)]


class ScriptedRasa:
    def __init__(self, answers: dict[str, RasaParse]) -> None:
        self.answers = answers

    async def parse(self, text: str) -> RasaParse:
        return self.answers[text]


def _faq(key: str, confidence: float = 0.95) -> RasaParse:
    return RasaParse(intent="faq", confidence=confidence, ranking=[("faq", confidence)], response_key=key)


async def test_faq_scoring_tells_selection_from_what_the_youth_gets() -> None:
    rows = [LabelledText(text, "faq", key) for text, key in (
        ("晚上老是睡不着", "faq/sleep"), ("考前好紧张", "faq/exam_anxiety"), ("月考考砸了", "faq/exam_failure"),
        ("室友总用我东西", "faq/dorm_conflict"), ("网贷还不上了", "faq/campus_loan"))]
    rasa = ScriptedRasa({
        "晚上老是睡不着": _faq("faq/sleep"),
        "考前好紧张": _faq("faq/exam_anxiety", confidence=0.55),  # right, but triage hands it to a person
        "月考考砸了": _faq("faq/exam_stress"),
        "室友总用我东西": RasaParse(intent="risk_abuse_home", confidence=0.9, ranking=[("risk_abuse_home", 0.9)]),
        "网贷还不上了": RasaParse(intent="out_of_scope", confidence=0.9, ranking=[("out_of_scope", 0.9)]),
    })
    triage = Triage(detector=RiskDetector(), model=None, intents=load_risk_intents())
    scores = await faq_eval.score_faq(rows, rasa, triage, "m1")
    assert (scores.total, scores.selected, scores.answered) == (5, 2, 1)
    assert scores.to_counsellor == 1  # the message read as a risk intent, and only it
    assert scores.misses == [Miss("月考考砸了", "faq/exam_failure", "faq/exam_stress", "other answer"),
                             Miss("室友总用我东西", "faq/dorm_conflict", "risk_abuse_home", "risk intent"),
                             Miss("网贷还不上了", "faq/campus_loan", "out_of_scope", "other intent")]


def test_the_report_gives_the_spread_and_counts_each_miss_across_models() -> None:
    shared = Miss("月考考砸了", "faq/exam_failure", "faq/exam_stress", "other answer")
    results = [FaqScores("a", total=4, selected=3, answered=3, misses=[shared]),
               FaqScores("b", total=4, selected=2, answered=1, to_counsellor=1,
                         misses=[shared, Miss("室友", "faq/dorm_conflict", "risk_abuse_home", "risk intent")])]
    report = faq_eval.format_report("split.yml", results, "seen, error analysis")
    assert "split.yml (seen, error analysis): 4 messages, 2 model(s)" in report
    assert "selected: mean 0.625, min 0.500, max 0.750" in report
    assert "answered after triage: mean 0.500, min 0.250, max 0.750" in report
    # Reaching a counsellor is reported beside the selection, never added to it.
    assert "missed, reached a counsellor: mean 0.125, min 0.000, max 0.250" in report
    assert "selected 0.500 (2/4)  answered after triage 0.250 (1/4)  missed, reached a counsellor 0.250 (1/4)" \
        in report
    assert "[2] faq/exam_failure -> faq/exam_stress: 月考考砸了" in report
    assert "[1] faq/dorm_conflict -> risk_abuse_home: 室友" in report
    by_topic = report.split("misses by topic")[1].split("misses (")[0].splitlines()[1:]
    assert by_topic == ["  faq/exam_failure 2: faq/exam_stress 2", "  faq/dorm_conflict 1: risk_abuse_home 1"]


def test_misses_by_topic_put_the_most_missed_topic_first_with_its_commonest_confusion() -> None:
    misses = Counter({Miss("a", "faq/sleep", "faq/exam_stress", "other answer"): 1,
                      Miss("b", "faq/help_friend", "risk_friend_concern", "risk intent"): 3,
                      Miss("c", "faq/help_friend", "faq/friend_conflict", "other answer"): 1,
                      Miss("d", "faq/help_friend", "risk_friend_concern", "risk intent"): 2})
    assert faq_eval.misses_by_topic(misses) == [
        ("faq/help_friend", Counter({"risk_friend_concern": 5, "faq/friend_conflict": 1})),
        ("faq/sleep", Counter({"faq/exam_stress": 1}))]


@pytest.mark.parametrize(("make", "args", "message"), [
    (None, ["--models", "{tmp}"], "cannot read"),
    ("nlu:\n- intent: greet\n  examples: |\n    - 你好\n", ["--models", "{tmp}"], "no faq/<topic> examples"),
    ("nlu: [", ["--models", "{tmp}"], "cannot read"),
    ("nlu:\n- intent: faq/sleep\n  examples: |\n    - 睡不着\n", ["--models", "{tmp}"], "no *.tar.gz models"),
])
def test_bad_input_stops_with_a_short_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str], make: str | None,
                                            args: list[str], message: str) -> None:
    split = tmp_path / "split.yml"
    if make is not None:
        split.write_text(make, encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        faq_eval.main([str(split), *[a.format(tmp=tmp_path) for a in args]])
    assert stopped.value.code != 0
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


def test_trainings_need_a_folder_and_labels_a_split_each(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    split = tmp_path / "split.yml"
    split.write_text("nlu:\n- intent: faq/sleep\n  examples: |\n    - 睡不着\n", encoding="utf-8")
    for args in (["--trainings", "3"], ["--trainings", "0", "--keep-models", str(tmp_path)],
                 ["--trainings", "3", "--models", str(tmp_path)],
                 ["--models", str(tmp_path), "--label", "seen", "--label", "one too many"]):
        with pytest.raises(SystemExit) as stopped:
            faq_eval.main([str(split), *args])
        assert stopped.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
