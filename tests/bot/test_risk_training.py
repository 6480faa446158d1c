"""What may train shipped weights, and the command that promotes a candidate through the gate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.evaluation import fixed_splits, load_heldout
from bot.risk import RiskDetector
from bot.risk_artifact import ARTIFACT_DIR, POINTER_NAME, Provenance, write_artifact
from bot.risk_data import SplitRefused
from bot.risk_model import FEATURES_VERSION, LabelledMessage, RiskModel
from bot.risk_training import TrainingRefused, trainable_rows
from service.cli import main as youthdesk


def _rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
    return path


def test_feedback_rows_with_levels_are_trainable(tmp_path: Path) -> None:
    path = _rows(tmp_path / "feedback.jsonl", [{"text": "家里没人管我", "level": 1, "source": "feedback"}])
    assert [row.level for row in trainable_rows(path)] == [1]


def test_evaluation_splits_are_never_trained_on(tmp_path: Path) -> None:
    for split in fixed_splits():
        with pytest.raises(TrainingRefused):
            trainable_rows(split)
    copied = _rows(tmp_path / "copied.jsonl", [{"text": load_heldout()[0].text, "level": 0}])
    with pytest.raises(TrainingRefused, match="evaluation text"):
        trainable_rows(copied)


def test_sos4k_and_test_splits_are_never_trained_on(tmp_path: Path) -> None:
    sos4k = _rows(tmp_path / "sos4k_train.jsonl", [{"text": "好累", "level": None, "urgency": 3,
                                                    "source": "sos4k:train"}])
    with pytest.raises(TrainingRefused, match="evaluation only"):
        trainable_rows(sos4k)
    with pytest.raises(SplitRefused):
        trainable_rows(tmp_path / "cold_test.jsonl")


def test_promote_refuses_a_worse_candidate_and_keeps_the_current_model(tmp_path: Path,
                                                                        detector: RiskDetector) -> None:
    directory = tmp_path / "risk"
    shutil.copytree(ARTIFACT_DIR, directory)
    pointer = (directory / POINTER_NAME).read_text(encoding="utf-8")
    # Ten messages instead of thousands: deliberately worse.
    toy = RiskModel.train(detector.normalise, [
        LabelledMessage("今天吃了火锅", 0), LabelledMessage("作业好多", 0), LabelledMessage("周末去爬山", 0),
        LabelledMessage("不想活了", 2, "suicide"), LabelledMessage("药已经吃下去了", 3, "suicide"),
        LabelledMessage("我站在天台上了", 3, "suicide")])
    provenance = Provenance(name="risk-worse", features_version=FEATURES_VERSION,
                            lexicon_version=detector.lexicon.version, seed=1, data_sha256="0" * 64, sets=[],
                            trained_seconds=0.0)
    candidate = write_artifact(toy, provenance, directory)
    with pytest.raises(SystemExit, match="refused, risk-worse is worse"):
        youthdesk(["risk", "promote", str(candidate)])
    assert (directory / POINTER_NAME).read_text(encoding="utf-8") == pointer
