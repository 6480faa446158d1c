"""``youthdesk risk reload`` against a running gateway: an admin reloads it, anyone else is refused, a broken
promotion fails the command."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from pathlib import Path

import pytest

from bot import risk_artifact
from bot.risk_artifact import ARTIFACT_DIR, POINTER_NAME
from bot.risk_reload_cli import reload_gateways
from contract.config import Settings
from contract.keys import STREAM
from service.cli import main
from tests.handoff_support import PASSWORD, user


def with_triage(settings: Settings) -> Settings:
    return settings.model_copy(update={"service": settings.service.model_copy(update={"triage_enabled": True})})


async def test_an_admin_reloads_the_gateway_and_sees_what_it_runs(start_app, settings: Settings,  # type: ignore[no-untyped-def]
                                                                  monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    client = await start_app(settings=with_triage(settings))
    running = client.app[STREAM].router.model
    await user(client, "admin", "admin", "national")
    url = str(client.make_url("/"))
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))

    await asyncio.to_thread(main, ["risk", "reload", "--url", url, "--username", "admin"])  # exits 0: no SystemExit
    printed = capsys.readouterr().out.splitlines()
    assert printed[-1] == "1 of 1 instances confirmed"
    assert "reloaded; risk-" in printed[0] and f"{running.calibrator.method} calibration" in printed[0]
    assert client.app[STREAM].router.model is not running


async def test_a_counsellor_a_wrong_password_and_no_gateway_are_refused(start_app, settings: Settings,  # type: ignore[no-untyped-def]
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    client = await start_app(settings=with_triage(settings))
    await user(client, "c-gd", desk="gd")
    await user(client, "admin", "admin", "national")
    url = str(client.make_url("/"))
    assert await reload_gateways(url, "c-gd", PASSWORD) == (["refused (403: not permitted for your role)"], False)
    lines, ok = await reload_gateways(url, "admin", "wrong-password")
    assert not ok and lines[0].startswith("sign-in refused (401")
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    with pytest.raises(SystemExit) as exit_info:
        await asyncio.to_thread(main, ["risk", "reload", "--url", "http://127.0.0.1:9", "--username", "admin"])
    assert "cannot reach http://127.0.0.1:9" in str(exit_info.value)


async def test_a_broken_promotion_is_reported_and_fails_the_command(start_app, settings: Settings,  # type: ignore[no-untyped-def]
                                                                    tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "risk_models"
    shutil.copytree(ARTIFACT_DIR, directory)
    monkeypatch.setattr(risk_artifact, "ARTIFACT_DIR", directory)
    client = await start_app(settings=with_triage(settings))
    await user(client, "admin", "admin", "national")
    (directory / POINTER_NAME).write_text(json.dumps({"artifact": "missing.json.gz", "sha256": "0" * 64}))
    lines, ok = await reload_gateways(str(client.make_url("/")), "admin", PASSWORD)
    assert not ok
    assert "NOT reloaded (promoted_model_unreadable); risk-" in lines[0]  # the model it kept
    assert lines[-1] == "refused (409: promoted_model_unreadable): the earlier model keeps running"
