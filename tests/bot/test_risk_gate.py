"""The evaluation gate: its tolerance is the training noise; a clearly worse model is refused, an equal one passes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.evaluation import EVAL_DIR
from bot.risk import RiskDetector
from bot.risk_artifact import ARTIFACT_DIR, POINTER_NAME, Provenance, current_path, read_artifact, write_artifact
from bot.risk_gate import NOISE, TOLERANCE, GateFigures, PromotionRefused, promote, tolerance_from
from bot.risk_model import FEATURES_VERSION, LabelledMessage, RiskModel

# A split the detector alone does badly on (0.705 recall), so the model's part shows; 300 rows keep it fast.
BLIND9 = EVAL_DIR / "blind9.jsonl"


def _provenance(name: str, detector: RiskDetector) -> Provenance:
    return Provenance(name=name, features_version=FEATURES_VERSION, lexicon_version=detector.lexicon.version,
                      seed=1, data_sha256="0" * 64, sets=[], trained_seconds=0.0)


def test_the_tolerance_is_the_measured_seed_noise() -> None:
    assert tolerance_from(NOISE) == TOLERANCE
    # Two seeds apart by 0.005 of false alarms: the bound of a difference is 1.96 x sqrt 2 x their sd.
    spread = tolerance_from([GateFigures(0.98, 0.95, 0.050), GateFigures(0.98, 0.95, 0.045)])
    assert (spread.recall, spread.level3_recall, spread.false_alarms) == (0.0, 0.0, 0.01)
    with pytest.raises(ValueError):
        tolerance_from(NOISE[:1])


def test_a_figure_lost_beyond_the_tolerance_is_worse() -> None:
    current = GateFigures(recall=0.97, level3_recall=0.96, false_alarms=0.05)
    within = GateFigures(0.97 - TOLERANCE.recall, 0.96 - TOLERANCE.level3_recall, 0.05 + TOLERANCE.false_alarms)
    assert within.worse_than(current) == []
    assert GateFigures(0.97, 0.96 - 0.0024, 0.05).worse_than(current)  # one level-3 message of ~400 is too many
    beyond = GateFigures(0.98, 0.96, 0.05 + TOLERANCE.false_alarms + 0.001)
    assert [loss.split(" ")[0] for loss in beyond.worse_than(current)] == ["false"]
    assert len(GateFigures(0.90, 0.90, 0.05).worse_than(current)) == 2


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    shutil.copytree(ARTIFACT_DIR, tmp_path / "risk")
    return tmp_path / "risk"


def test_an_equal_candidate_is_promoted(directory: Path, detector: RiskDetector) -> None:
    current, _ = read_artifact(current_path(directory), detector.normalise)
    twin = write_artifact(current, _provenance("risk-twin", detector), directory)
    promotion = promote(twin, detector, splits=[BLIND9])
    assert promotion.candidate == promotion.current and promotion.name == "risk-twin"
    assert current_path(directory) == twin


def test_a_clearly_worse_candidate_is_refused_and_the_current_model_stays(directory: Path,
                                                                          detector: RiskDetector) -> None:
    pointer = (directory / POINTER_NAME).read_text(encoding="utf-8")
    toy = RiskModel.train(detector.normalise, [
        LabelledMessage("今天吃了火锅", 0), LabelledMessage("作业好多", 0), LabelledMessage("不想活了", 2, "suicide"),
        LabelledMessage("我站在天台上了", 3, "suicide")])
    worse = write_artifact(toy, _provenance("risk-worse", detector), directory)
    with pytest.raises(PromotionRefused, match="risk-worse is worse"):
        promote(worse, detector, splits=[BLIND9])
    assert (directory / POINTER_NAME).read_text(encoding="utf-8") == pointer


def test_an_unreadable_candidate_is_refused(directory: Path, detector: RiskDetector) -> None:
    broken = directory / "risk-broken.json.gz"
    broken.write_bytes(b"not gzip")
    with pytest.raises(PromotionRefused, match="cannot read"):
        promote(broken, detector, splits=[BLIND9])


def test_a_directory_without_a_current_model_promotes_only_an_explicit_first(directory: Path, tmp_path: Path,
                                                                             detector: RiskDetector) -> None:
    current, _ = read_artifact(current_path(directory), detector.normalise)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    candidate = write_artifact(current, _provenance("risk-scratch", detector), scratch)
    with pytest.raises(PromotionRefused, match="no current model"):
        promote(candidate, detector, splits=[BLIND9])
    assert not (scratch / POINTER_NAME).exists()
    assert promote(candidate, detector, first=True, splits=[BLIND9]).replaced is None
    assert current_path(scratch) == candidate
