"""The shared-data commands on the durable embedded store: export (validated), retention dry run, early warning."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from contract.config import DEMO_CONFIG_PATH
from handoff.desks import CHINA
from service.cli import main
from store.client import open_store
from tests.handoff.data_support import add_case


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "youthdesk.toml"
    data_dir = (tmp_path / "data").as_posix()
    path.write_text(DEMO_CONFIG_PATH.read_text(encoding="utf-8").replace(
        'data_key = ', f'data_dir = "{data_dir}"\ndata_key = ', 1), encoding="utf-8")
    return path


async def _stored(config: Path) -> str:
    store = open_store("", "youthdesk", data_dir=config.parent / "data")
    try:
        await store.ensure_indexes()
        now = datetime.now(UTC)
        opened = now - timedelta(hours=1)
        await add_case(store, opened, category="legal.bullying", closed=now, profile={"age_band": "12_14"})
        await add_case(store, now - timedelta(days=4 * 365), closed=now - timedelta(days=4 * 365))
    finally:
        await store.close()
    # The export selects by the desk's (China) calendar day of opening; between 00:00 and 01:00
    # China time that day is yesterday's, so the test asks for the day the case really opened.
    return opened.astimezone(CHINA).strftime("%Y-%m-%d")


def test_export_retention_and_early_warning_commands(config: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("MONGODB_URI", "YOUTHDESK_CONFIG"):
        monkeypatch.delenv(variable, raising=False)
    today = asyncio.run(_stored(config))  # the commands run their own event loops
    out = tmp_path / "export.jsonl"
    main(["--config", str(config), "export", "--from", today, "--to", today, "--deidentify", "--out", str(out)])
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 1 and records[0]["case"]["category"]["national"] == "06"
    assert records[0]["youth_profile"]["age_band"] == "12_14" and records[0]["identifiers"] is None

    main(["--config", str(config), "export", "--from", today, "--to", today, "--format", "csv"])
    assert capsys.readouterr().out.startswith("case.category.local,")

    main(["--config", str(config), "retention", "run", "--dry-run"])
    printed = capsys.readouterr().out
    assert "演练" in printed and "工单将匿名化：1 件" in printed

    main(["--config", str(config), "early-warning", "run"])
    assert "新发预警 0 条" in capsys.readouterr().out

    with pytest.raises(SystemExit, match="YYYY-MM-DD"):
        main(["--config", str(config), "export", "--from", "yesterday", "--to", today])
