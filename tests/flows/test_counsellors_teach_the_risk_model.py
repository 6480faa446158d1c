"""Counsellors teach the risk model: what they save becomes training rows, and a better model goes live.

The walk: a youth writes on WeChat → triage hands off → the counsellor claims it, sets the risk and
saves an assessment in the console API (handoff/escalation.py, handoff/cases.py write a label each,
store/risk_labels.py) → the labels are exported as de-identified rows (bot/feedback.py, what
``youthdesk risk export-feedback`` runs) → a candidate is trained with them (bot/risk_training.py, the
``train --with-feedback`` path) → the gate (bot/risk_gate.py) refuses a candidate made worse by mislabelled
rows and promotes the one that is not → the running gateway loads the promoted model on SIGHUP
(service/triage.py). Training and the gate run on a test-sized corpus and split, so this takes seconds
(off the event loop, as the commands run them in their own process).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from bot import risk_artifact
from bot.feedback import export_feedback
from bot.risk import RiskDetector
from bot.risk_artifact import current_path, point_to, write_artifact
from bot.risk_data import LabelledRow, write_jsonl
from bot.risk_gate import PromotionRefused, promote
from bot.risk_model import LabelledMessage
from bot.risk_training import train
from contract.keys import STORE, STREAM
from store.users import find_user_by_username
from tests.fakes import wait_for
from tests.handoff_support import login, user

SAFE = ["周末去爬山", "作业好多好烦", "这次考试又没考好", "晚上和同学打球", "妈妈做了红烧肉", "今天下雨了",
        "新买的鞋子很好看", "数学老师讲得很清楚", "明天要交作文", "和朋友去看电影"]
RISKY = [("不想活了", 2), ("活着没意思", 2), ("想从楼上跳下去", 2), ("药都攒好了，今晚就吃", 3),
         ("刀已经放在枕头下面了", 3), ("我已经在天台边上了", 3), ("手腕上的口子好深", 2), ("我又划了自己", 2),
         ("血把袖子都染红了", 2), ("手腕上的口子又深了", 2)]
CORPUS = ([LabelledMessage(text, 0) for text in SAFE]
          + [LabelledMessage(text, level, "self_harm" if any(word in text for word in "口划血") else "suicide")
             for text, level in RISKY])
# A careless batch: self-harm the lexicon does not name, filed as nothing.
CARELESS = ["手腕上的口子好深", "血把袖子都染红了", "手腕上的口子又深了", "口子好深", "血染红了"]
# The gate's split: close to the corpus (a test-sized model must be able to pass it), never trained on.
SPLIT = ([{"text": text, "level": 0} for text in ("周末去爬山了", "作业好多", "考试没考好", "和同学打球去了",
                                                  "妈妈做的红烧肉", "下雨了", "鞋子很好看", "明天交作文")]
         + [{"text": text, "level": level, "category": "suicide"} for text, level in
            (("真的不想活了", 2), ("活着真没意思", 2), ("药攒好了今晚吃", 3), ("我在天台边上", 3))]
         + [{"text": "手腕口子好深", "level": 2, "category": "self_harm"}])  # only the model reads it


@pytest.fixture
def risk_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, detector: RiskDetector) -> Path:
    """A test-sized current model in its own directory, which the gateway loads instead of the shipped one."""
    directory = tmp_path / "risk_models"
    model, provenance = train(detector, {}, seed=1, corpus=CORPUS, splits=[_split(tmp_path)])
    point_to(write_artifact(model, provenance, directory), directory)
    monkeypatch.setattr(risk_artifact, "ARTIFACT_DIR", directory)
    return directory


def _split(tmp_path: Path) -> Path:
    path = tmp_path / "gate_split.jsonl"
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in SPLIT), encoding="utf-8")
    return path


async def test_what_counsellors_save_trains_a_candidate_that_goes_live_only_if_not_worse(
        risk_models: Path, gateway: TestClient, youth, detector: RiskDetector,  # type: ignore[no-untyped-def]
        tmp_path: Path) -> None:
    await user(gateway, "sup-gd", role="supervisor", desk="gd")
    await user(gateway, "c-gd", desk="gd")
    counsellor = await login(gateway, "c-gd")
    store = gateway.app[STORE]
    router = gateway.app[STREAM].router
    first_model = router.model
    assert first_model is not None

    # A youth at risk reaches the counsellor, who sets the risk and saves an assessment.
    await youth.writes("我叫王小红，我不想活了")
    await youth.writes("药都攒好了 电话13812345678别打")

    async def queued() -> list:  # type: ignore[type-arg]
        return (await (await gateway.get("/api/v1/queue", headers=counsellor)).json())["items"]

    await wait_for(queued)
    conversation_id = (await queued())[0]["id"]
    claimed = await gateway.post(f"/api/v1/conversations/{conversation_id}/claim", headers=counsellor)
    assert claimed.status == 200, await claimed.text()
    case_id = (await claimed.json())["case_id"]
    changed = await gateway.put(f"/api/v1/conversations/{conversation_id}/risk", headers=counsellor,
                                json={"level": 3, "category": "suicide", "reason": "药已备好"})
    assert changed.status == 200, await changed.text()
    assessed = await gateway.put(f"/api/v1/cases/{case_id}/assessment", headers=counsellor, json={
        "level": 3, "factors": ["药物已备"], "immediate_danger": True, "plan": "联系监护人", "notes": ""})
    assert assessed.status == 200, await assessed.text()

    # Exported: one row for the judged words (both labels judged the same messages), de-identified.
    supervisor = await find_user_by_username(store, "sup-gd")
    assert supervisor is not None
    exported = await export_feedback(store, supervisor, since=None, desks=["gd"])
    assert exported.labels == 2 and [(row.level, row.category) for row in exported.rows] == [(3, "suicide")]
    assert exported.rows[0].text == "我叫[姓名]，我不想活了\n药都攒好了 电话[电话]别打"
    feedback = tmp_path / "feedback.jsonl"
    write_jsonl(exported.rows, feedback)

    split = [_split(tmp_path)]
    parent = current_path(risk_models).name.removesuffix(".json.gz")

    # Mislabelled rows (self-harm filed as nothing) make a worse candidate: refused.
    careless = tmp_path / "careless.jsonl"
    write_jsonl(exported.rows + [LabelledRow(text, 0, "feedback:assessment") for text in CARELESS], careless)
    worse, provenance = await asyncio.to_thread(train, detector, {"feedback": careless}, seed=1, parent=parent,
                                                corpus=CORPUS, splits=split)
    with pytest.raises(PromotionRefused, match="risk recall"):
        await asyncio.to_thread(promote, write_artifact(worse, provenance, risk_models), detector, splits=split)
    assert current_path(risk_models).name == f"{parent}.json.gz"

    # The counsellors' own rows: not worse, promoted.
    better, provenance = await asyncio.to_thread(train, detector, {"feedback": feedback}, seed=1, parent=parent,
                                                 corpus=CORPUS, splits=split)
    assert [s.name for s in provenance.sets] == ["a given corpus", "feedback"] and provenance.parent == parent
    promotion = await asyncio.to_thread(promote, write_artifact(better, provenance, risk_models), detector,
                                        splits=split)
    assert promotion.replaced == parent and current_path(risk_models).name == f"{provenance.name}.json.gz"

    # The running gateway picks it up on SIGHUP, without a restart.
    os.kill(os.getpid(), signal.SIGHUP)
    await wait_for(lambda: router.model is not first_model, timeout=30)
    health = await (await gateway.get("/healthz")).json()
    assert provenance.name in health["parts"]["risk_model"]["detail"]
    assert router.model.scores("药都攒好了").calibrated is not None
