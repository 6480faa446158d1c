"""The risk model reloads on SIGHUP; a promoted artifact that cannot be read leaves the running model in place."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest

from bot import risk_artifact
from bot.risk_artifact import ARTIFACT_DIR, POINTER_NAME
from contract.config import Settings
from contract.keys import STREAM
from tests.fakes import wait_for


async def test_a_broken_promotion_keeps_the_running_model_and_says_so(start_app, settings: Settings,  # type: ignore[no-untyped-def]
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "risk_models"
    shutil.copytree(ARTIFACT_DIR, directory)
    monkeypatch.setattr(risk_artifact, "ARTIFACT_DIR", directory)
    client = await start_app(settings=settings.model_copy(update={
        "service": settings.service.model_copy(update={"triage_enabled": True})}))
    router = client.app[STREAM].router
    running = router.model
    assert running is not None

    pointer = json.loads((directory / POINTER_NAME).read_text(encoding="utf-8"))
    (directory / POINTER_NAME).write_text(json.dumps({**pointer, "sha256": "0" * 64}), encoding="utf-8")
    os.kill(os.getpid(), signal.SIGHUP)

    async def reported() -> bool:
        part = (await (await client.get("/healthz")).json())["parts"]["risk_model"]
        return part["status"] == "degraded" and "the last reload failed, still running" in part["detail"]

    await wait_for(reported, timeout=30)
    assert router.model is running
