"""``youthdesk risk export-feedback``: counsellors' labels as de-identified rows, audited, on the embedded store."""

from __future__ import annotations

import asyncio
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.feedback import AUDIT_ACTION
from bot.risk_training import trainable_rows
from contract.config import DEMO_CONFIG_PATH
from contract.crypto import DataProtector
from contract.models import ChannelIdentity, Conversation, DeliveryStatus, Direction, Message, SenderKind
from contract.people import Role, User
from contract.risk_labels import RiskLabel
from service.cli import main
from store import risk_labels
from store.client import open_store
from store.contacts import contact_id_for_identity
from store.messages import insert_message
from store.users import insert_user

DATA_KEY = "7vVhVc1G4ktNhx3UMUf9Akqg3MfmNWXfzKsXFte_mVw="  # config/demo.toml's, demo-only
OPENID = "oFeedbackYouth0000000000001"
SAVED = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("MONGODB_URI", "YOUTHDESK_CONFIG", "YOUTHDESK_DATA_KEY"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "youthdesk.toml"
    path.write_text(DEMO_CONFIG_PATH.read_text(encoding="utf-8").replace(
        'data_key = ', f'data_dir = "{(tmp_path / "data").as_posix()}"\ndata_key = ', 1), encoding="utf-8")
    return path


async def _conversation(store, desk: str, texts: list[str], number: int) -> Conversation:  # type: ignore[no-untyped-def]
    contact_id = await contact_id_for_identity(store, store.protector, ChannelIdentity(
        platform="wechat", account="wxdemo0000000001", external_id=f"{OPENID[:-1]}{number}"))
    conversation = Conversation(id=f"cv{number}", contact_id=contact_id, platform="wechat", account="wxdemo0000000001",
                                desk=desk, risk_category="suicide", last_seq=len(texts) + 1)
    await store.conversations.insert_one(conversation.to_doc())
    for seq, text in enumerate(texts, 1):
        await insert_message(store, Message(id=f"m{number}-{seq}", conversation_id=conversation.id, seq=seq,
                                            direction=Direction.INBOUND, sender=SenderKind.YOUTH, text=text,
                                            status=DeliveryStatus.RECEIVED))
    await insert_message(store, Message(id=f"m{number}-out", conversation_id=conversation.id, seq=len(texts) + 1,
                                        direction=Direction.OUTBOUND, sender=SenderKind.COUNSELLOR,
                                        text="我在，慢慢说", status=DeliveryStatus.SENT))
    return conversation


def _label(conversation: Conversation, level: int, at: datetime, kind: str = "assessment",
           up_to_seq: int | None = None) -> RiskLabel:
    label = RiskLabel.saved(conversation, level=level, kind=kind, by="u-c", at=at)  # type: ignore[arg-type]
    return label.model_copy(update={"up_to_seq": up_to_seq}) if up_to_seq is not None else label


async def _stored(config: Path) -> None:
    store = open_store("", "youthdesk", data_dir=config.parent / "data", protector=DataProtector(DATA_KEY))
    try:
        await store.ensure_indexes()
        for username, role, desk in (("sup-gd", Role.SUPERVISOR, "gd"), ("admin", Role.ADMIN, "national"),
                                     ("c-gd", Role.COUNSELLOR, "gd")):
            await insert_user(store, User(id=f"u-{username}", username=username, display_name=username, role=role,
                                          desk=desk))
        first = await _conversation(store, "gd", [f"我的号是{OPENID[:-1]}1，我叫李小红", "不想活了 电话13812345678"], 1)
        await risk_labels.insert_label(store, _label(first, 2, SAVED, kind="risk_change"))
        # The same words judged again a minute later: the later judgement is the example.
        await risk_labels.insert_label(store, _label(first, 3, SAVED + timedelta(minutes=1)))
        await risk_labels.insert_label(store, _label(first, 2, SAVED, up_to_seq=1))  # the first message alone
        gone = await _conversation(store, "gd", ["药都准备好了"], 2)
        await store.messages.update_many({"conversation_id": gone.id}, {"$set": {"text": ""}})  # past retention
        await risk_labels.insert_label(store, _label(gone, 3, SAVED))
        elsewhere = await _conversation(store, "sz", ["作业写不完，好烦"], 3)
        await risk_labels.insert_label(store, _label(elsewhere, 1, SAVED - timedelta(days=3)))
    finally:
        await store.close()


async def _audit(config: Path) -> list[dict]:  # type: ignore[type-arg]
    store = open_store("", "youthdesk", data_dir=config.parent / "data")
    try:
        return await store["audit"].find({"action": AUDIT_ACTION}).to_list(None)
    finally:
        await store.close()


def test_export_feedback_writes_deidentified_rows_train_reads(config: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    asyncio.run(_stored(config))
    out = tmp_path / "feedback" / "rows.jsonl"
    main(["--config", str(config), "risk", "export-feedback", "--by", "ADMIN", "--out", str(out)])
    assert "3 rows" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    by_text = {row["text"]: row for row in rows}
    assert by_text["我的号是[账号]，我叫[姓名]\n不想活了 电话[电话]"] == {
        "text": "我的号是[账号]，我叫[姓名]\n不想活了 电话[电话]", "level": 3, "category": "suicide",
        "source": "feedback:assessment", "desk": "gd", "day": "2026-12-01"}
    assert by_text["我的号是[账号]，我叫[姓名]"]["level"] == 2
    assert by_text["作业写不完，好烦"] == {"text": "作业写不完，好烦", "level": 1, "source": "feedback:assessment",
                                           "desk": "sz", "day": "2026-11-28"}  # below 2: no category
    assert "我在" not in out.read_text(encoding="utf-8")  # the counsellor's words are not the youth's
    assert len(trainable_rows(out)) == 3  # the format train --with-feedback reads
    [entry] = asyncio.run(_audit(config))
    assert entry["actor"] == "u-admin" and entry["reason"].startswith("3 rows from 5 labels; desks all desks")


def test_a_supervisor_exports_their_own_desk_since_a_day(config: Path, tmp_path: Path) -> None:
    asyncio.run(_stored(config))
    out = tmp_path / "gd.jsonl"
    main(["--config", str(config), "risk", "export-feedback", "--by", "sup-gd", "--desk", "gd",
          "--since", "2026-12-01", "--out", str(out)])
    assert {json.loads(line)["desk"] for line in out.read_text(encoding="utf-8").splitlines()} == {"gd"}
    with pytest.raises(SystemExit, match="their own desk only"):
        main(["--config", str(config), "risk", "export-feedback", "--by", "sup-gd", "--out", str(out)])


@pytest.mark.parametrize(("arguments", "reason"), [
    (["--by", "c-gd"], "only supervisors and admins"),
    (["--by", "nobody"], "no console account"),
    (["--by", "admin", "--desk", "atlantis"], "unknown desk atlantis"),
    (["--by", "admin", "--since", "last week"], "YYYY-MM-DD"),
    (["--by", "admin", "--out", "."], "is a directory"),
])
def test_bad_requests_are_refused_and_export_nothing(config: Path, tmp_path: Path, arguments: list[str],
                                                     reason: str) -> None:
    asyncio.run(_stored(config))
    out = tmp_path / "rows.jsonl"
    with pytest.raises(SystemExit, match=reason):
        main(["--config", str(config), "risk", "export-feedback", "--out", str(out), *arguments])
    assert not out.exists() or out.read_text(encoding="utf-8") == ""
    assert asyncio.run(_audit(config)) == []
