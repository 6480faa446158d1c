"""Calibrating P(level >= 2): the fits, the choice between them, the artifact, and unchanged decisions."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from bot.risk import RiskDetector
from bot.risk_artifact import ARTIFACT_DIR, Provenance, current_path, read_artifact, write_artifact
from bot.risk_calibration import (
    Calibrator,
    expected_calibration_error,
    fit_calibrator,
    fit_isotonic,
    fit_platt,
)
from bot.risk_model import FEATURES_VERSION, LabelledMessage, RiskModel
from bot.triage import load_risk_intents, triage_text


def _overconfident(count: int, seed: int = 3) -> list[tuple[float, bool]]:
    """Scores far more extreme than the truth: the true frequency at raw p is 0.2 + 0.6 p."""
    draw = random.Random(seed)
    pairs = []
    for _ in range(count):
        raw = draw.random()
        pairs.append((raw, draw.random() < 0.2 + 0.6 * raw))
    return pairs


@pytest.mark.parametrize("fit", [fit_platt, fit_isotonic])
def test_each_fit_brings_the_probabilities_to_the_observed_frequency(fit) -> None:  # type: ignore[no-untyped-def]
    train, held = _overconfident(3000, seed=1), _overconfident(3000, seed=2)
    calibrator = fit(train)
    before = expected_calibration_error(held)
    after = expected_calibration_error([(calibrator.apply(p), y) for p, y in held])
    assert before > 0.08 and after < 0.03
    assert calibrator.apply(0.1) <= calibrator.apply(0.5) <= calibrator.apply(0.9)  # monotone


def test_the_method_is_chosen_on_held_out_halves_and_fitted_on_everything() -> None:
    pairs = _overconfident(2000)
    calibrator = fit_calibrator(pairs, [f"message {i}" for i in range(len(pairs))])
    assert calibrator.rows == 2000 and set(calibrator.chosen_by) == {"raw", "platt", "isotonic"}
    others = {name: error for name, error in calibrator.chosen_by.items() if name != "raw"}
    assert calibrator.method == min(others, key=others.__getitem__)
    assert calibrator.chosen_by[calibrator.method] < calibrator.chosen_by["raw"]
    assert Calibrator.from_json(calibrator.to_json()) == calibrator


def test_calibration_needs_both_outcomes() -> None:
    with pytest.raises(ValueError, match="risks and non-risks"):
        fit_calibrator([(0.9, True)] * 10, [str(i) for i in range(10)])


def test_an_artifact_written_before_calibration_still_loads(detector: RiskDetector, tmp_path: Path) -> None:
    body = json.loads(gzip.decompress(current_path(ARTIFACT_DIR).read_bytes()))
    body["parameters"].pop("calibrator", None)  # as written before calibrators existed
    older = tmp_path / "older.json.gz"
    older.write_bytes(gzip.compress(json.dumps(body).encode("utf-8")))
    model, _ = read_artifact(older, detector.normalise)
    assert model.calibrator is None and model.scores("不想活了").calibrated is None


async def test_a_calibrator_travels_in_the_artifact_and_changes_no_decision(tmp_path: Path,
                                                                           detector: RiskDetector) -> None:
    model = RiskModel.train(detector.normalise, [
        LabelledMessage("今天吃了火锅", 0), LabelledMessage("作业好多", 0), LabelledMessage("周末去爬山", 0),
        LabelledMessage("不想活了", 2, "suicide"), LabelledMessage("药已经吃下去了", 3, "suicide"),
        LabelledMessage("我站在天台上了", 3, "suicide")])
    calibrated = model.calibrated(fit_platt(_overconfident(500)))
    provenance = Provenance(name="risk-calibrated", features_version=FEATURES_VERSION,
                            lexicon_version=detector.lexicon.version, seed=1, data_sha256="0" * 64, sets=[],
                            trained_seconds=0.0)
    loaded, _ = read_artifact(write_artifact(calibrated, provenance, tmp_path), detector.normalise)
    assert loaded.calibrator is not None and loaded.calibrator.method == "platt"
    intents = load_risk_intents()
    for text in ("不想活了", "周末去爬山", "药已经吃下去了 头好晕", "作业好多好累"):
        scores = loaded.scores(text)
        assert scores.calibrated == pytest.approx(loaded.calibrator.apply(scores.risk))
        assert scores.risk == pytest.approx(model.scores(text).risk, abs=1e-5)
        plain = await triage_text(text, detector=detector, model=model, rasa=None, intents=intents)
        with_calibrator = await triage_text(text, detector=detector, model=loaded, rasa=None, intents=intents)
        assert (plain.risk, plain.category) == (with_calibrator.risk, with_calibrator.category)
