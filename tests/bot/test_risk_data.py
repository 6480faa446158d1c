"""Converting public sets into labelled rows; every sentence here is the project's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.risk_data import LabelledRow, SplitRefused, convert, digest, read_jsonl, write_jsonl
from service.cli import main as youthdesk


def _sos4k(path: Path) -> Path:
    lines = ["comment\tmyLabel\texplain", "今天的云好看\t0\t无", "有点累但还行\t1\t无", "说不清的难受\t4\t中",
             "不想再撑下去了\t7\t高"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _cold(path: Path) -> Path:
    path.write_text(",split,topic,label,TEXT\n1,train,region,0,这个地方的面好吃\n2,train,gender,1,某某都是笨蛋\n",
                    encoding="utf-8")
    return path


def test_sos4k_keeps_the_urgency_and_reads_it_only_at_the_ends(tmp_path: Path) -> None:
    rows = convert("sos4k", _sos4k(tmp_path / "val_data_withExplainFewShot.tsv"))
    assert [(row.urgency, row.level, row.risky) for row in rows] == [
        (0, None, False), (1, None, False), (4, None, None), (7, None, True)]
    assert {row.source for row in rows} == {"sos4k:val"}


def test_cold_rows_are_level_0_offensive_or_not(tmp_path: Path) -> None:
    rows = convert("cold", _cold(tmp_path / "train.csv"))
    assert [(row.level, row.risky, row.source) for row in rows] == [(0, False, "cold:train")] * 2


@pytest.mark.parametrize("name", ["test.csv", "test_data_withExplainFewShot.tsv", "COLD_TEST.jsonl"])
def test_test_splits_are_refused_unread(tmp_path: Path, name: str) -> None:
    path = tmp_path / name  # never created: refused on its name alone
    with pytest.raises(SplitRefused):
        convert("cold", path)
    with pytest.raises(SplitRefused):
        read_jsonl(path)


def test_the_convert_command_writes_json_lines_that_read_back(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sos4k_val.jsonl"
    youthdesk(["risk", "data", "convert", "--format", "sos4k", str(_sos4k(tmp_path / "val.tsv")), "--out", str(out)])
    assert "4 rows" in capsys.readouterr().out
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first == {"text": "今天的云好看", "level": None, "source": "sos4k:val", "urgency": 0}
    assert [row.urgency for row in read_jsonl(out)] == [0, 1, 4, 7]
    with pytest.raises(SystemExit):
        youthdesk(["risk", "data", "convert", "--format", "cold", str(tmp_path / "test.csv"), "--out", str(out)])


def test_the_projects_own_splits_read_with_risk_as_the_level(tmp_path: Path) -> None:
    split = tmp_path / "mine.jsonl"
    split.write_text('{"text": "我想死", "risk": 2, "category": "suicide"}\n{"text": "你好", "level": 0}\n',
                     encoding="utf-8")
    rows = read_jsonl(split)
    assert rows == [LabelledRow("我想死", 2, "mine", "suicide"), LabelledRow("你好", 0, "mine")]
    assert digest(rows) != digest(rows[:1]) and digest(rows) == digest(read_jsonl(split))
    assert write_jsonl(rows, tmp_path / "again.jsonl") == 2
