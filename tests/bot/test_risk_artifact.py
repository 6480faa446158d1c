"""The shipped risk model: round trip, the committed artifact, and a gateway that starts without one."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from bot import risk_artifact
from bot.risk import RiskDetector
from bot.risk_artifact import (
    ARTIFACT_DIR,
    Provenance,
    current_path,
    load_current,
    point_to,
    read_artifact,
    write_artifact,
)
from bot.risk_data import LabelledRow, digest
from bot.risk_model import FEATURES_VERSION, LabelledMessage, RiskModel, load_training_messages
from contract.config import Settings
from contract.keys import STORE, STREAM
from tests.fakes import inbound, wait_for

TOY = [LabelledMessage(text, level, category) for text, level, category in [
    ("今天吃了火锅", 0, None), ("作业好多", 0, None), ("周末去爬山", 0, None), ("数学考了九十分", 1, None),
    ("不想活了", 2, "suicide"), ("活着没意思", 2, "suicide"), ("药已经吃下去了", 3, "suicide"),
    ("我站在天台上了", 3, "suicide"), ("爸爸又打我了", 2, "abuse_home"), ("我妈拿皮带抽我", 3, "abuse_home"),
]]


def _provenance(name: str, lexicon: str) -> Provenance:
    return Provenance(name=name, features_version=FEATURES_VERSION, lexicon_version=lexicon, seed=1,
                      data_sha256="0" * 64, sets=[], trained_seconds=0.0)


@pytest.fixture
def toy_dir(tmp_path: Path, detector: RiskDetector) -> Path:
    model = RiskModel.train(detector.normalise, TOY)
    point_to(write_artifact(model, _provenance("risk-toy", detector.lexicon.version), tmp_path), tmp_path)
    return tmp_path


def test_an_artifact_scores_as_the_model_it_was_written_from(toy_dir: Path, detector: RiskDetector) -> None:
    trained = RiskModel.train(detector.normalise, TOY)
    loaded = load_current(detector.normalise, detector.lexicon.version, toy_dir)
    assert loaded.healthy and loaded.model is not None and loaded.provenance.name == "risk-toy"
    for text in ("我不想活了", "今天去爬山", "药吃下去了"):
        mine, theirs = trained.scores(text), loaded.model.scores(text)
        assert mine.risk == pytest.approx(theirs.risk, abs=1e-5) and mine.category == theirs.category
    assert (toy_dir / "risk-toy.card.json").is_file()


def test_the_same_training_writes_the_same_bytes(tmp_path: Path, detector: RiskDetector) -> None:
    written = [write_artifact(RiskModel.train(detector.normalise, TOY), _provenance("risk-toy", "v"), tmp_path / d)
               for d in ("a", "b")]
    assert written[0].read_bytes() == written[1].read_bytes()


def test_a_missing_artifact_leaves_lexicon_triage_and_says_so_loudly(tmp_path: Path, detector: RiskDetector,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, "youthdesk.risk_model"):
        loaded = load_current(detector.normalise, detector.lexicon.version, tmp_path)
    assert loaded.model is None and not loaded.healthy and "NOT loaded" in loaded.detail
    assert any("!!!" in record.message for record in caplog.records)


def test_a_corrupt_artifact_is_refused(toy_dir: Path, detector: RiskDetector) -> None:
    artifact = current_path(toy_dir)
    artifact.write_bytes(artifact.read_bytes()[:-10])
    loaded = load_current(detector.normalise, detector.lexicon.version, toy_dir)
    assert loaded.model is None and "SHA-256" in loaded.detail


def test_an_artifact_from_another_lexicon_is_used_but_reported(toy_dir: Path, detector: RiskDetector) -> None:
    loaded = load_current(detector.normalise, "another-version", toy_dir)
    assert loaded.model is not None and not loaded.healthy and "retrain" in loaded.detail


def test_the_committed_artifact_loads_and_matches_the_repository(detector: RiskDetector) -> None:
    loaded = load_current(detector.normalise, detector.lexicon.version)
    assert loaded.healthy and loaded.model is not None, loaded.detail
    provenance = loaded.provenance
    own = load_training_messages()
    # Retrain (youthdesk risk train, README) whenever the corpus, the lexicon or the features change.
    assert provenance.sets[0].sha256 == digest([LabelledRow(m.text, m.level, "repository", m.category) for m in own])
    assert provenance.sets[0].rows == len(own)
    assert not any(entry.name.startswith("sos4k") for entry in provenance.sets)
    card = json.loads((ARTIFACT_DIR / f"{provenance.name}.card.json").read_text(encoding="utf-8"))
    assert card["data_sha256"] == provenance.data_sha256 and card["figures"] == provenance.figures
    read_artifact(current_path(), detector.normalise)


async def test_the_gateway_starts_without_the_artifact_and_healthz_says_degraded(
        start_app, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(risk_artifact, "ARTIFACT_DIR", tmp_path)
    on = settings.model_copy(update={"service": settings.service.model_copy(update={"triage_enabled": True})})
    client = await start_app(settings=on)
    body = await (await client.get("/healthz")).json()
    assert body["status"] == "ok"
    assert body["parts"]["risk_model"]["status"] == "degraded" and "NOT loaded" in body["parts"]["risk_model"]["detail"]
    # Never silently untriaged: the lexicon decides alone.
    assert client.app[STREAM].router.model is None
    result = await client.app[STREAM].ingest(inbound("我今晚就去跳河", msg_id="m1"))
    await wait_for(lambda: _processed(client, result.message_id))
    conversation = await client.app[STREAM].get_conversation(result.conversation_id)
    assert conversation.risk_level == 3


async def _processed(client, message_id: str) -> bool:  # type: ignore[no-untyped-def]
    doc = await client.app[STORE].messages.find_one({"_id": message_id})
    return bool(doc and doc["processed"])


async def test_the_gateway_reports_the_loaded_model(start_app, settings: Settings) -> None:
    on = settings.model_copy(update={"service": settings.service.model_copy(update={"triage_enabled": True})})
    client = await start_app(settings=on)
    part = (await (await client.get("/healthz")).json())["parts"]["risk_model"]
    assert part["status"] == "ok" and read_artifact(current_path(), str)[1].name in part["detail"]


def test_a_copy_of_the_artifact_dir_is_self_contained(tmp_path: Path, detector: RiskDetector) -> None:
    shutil.copytree(ARTIFACT_DIR, tmp_path / "risk")
    assert load_current(detector.normalise, detector.lexicon.version, tmp_path / "risk").healthy
