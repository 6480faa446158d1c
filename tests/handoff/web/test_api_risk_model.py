"""``POST /api/v1/risk-model/reload``: admins only, audited, a broken artifact keeps the running model,
and with Redis every instance reloads and confirms."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot import risk_artifact
from bot.risk_artifact import ARTIFACT_DIR, POINTER_NAME
from contract.config import Settings
from contract.keys import RISK_MODEL, STORE, STREAM
from handoff.audit import list_audit
from tests.handoff_support import login, user

RELOAD = "/api/v1/risk-model/reload"


@pytest.fixture
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped artifacts the gateway loads from, free to break."""
    directory = tmp_path / "risk_models"
    shutil.copytree(ARTIFACT_DIR, directory)
    monkeypatch.setattr(risk_artifact, "ARTIFACT_DIR", directory)
    return directory


def with_triage(settings: Settings, **service: object) -> Settings:
    return settings.model_copy(update={"service": settings.service.model_copy(
        update={"triage_enabled": True, **service})})


def promoted(directory: Path) -> str:
    return json.loads((directory / POINTER_NAME).read_text(encoding="utf-8"))["artifact"].removesuffix(".json.gz")


def break_pointer(directory: Path) -> None:
    pointer = json.loads((directory / POINTER_NAME).read_text(encoding="utf-8"))
    (directory / POINTER_NAME).write_text(json.dumps({**pointer, "sha256": "0" * 64}), encoding="utf-8")


async def risk_model_health(client) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return (await (await client.get("/healthz")).json())["parts"]["risk_model"]


async def test_only_an_admin_reloads_and_the_reload_is_audited(start_app, settings: Settings,  # type: ignore[no-untyped-def]
                                                               artifacts: Path) -> None:
    client = await start_app(settings=with_triage(settings))
    router = client.app[STREAM].router
    running = router.model
    await user(client, "c-gd", desk="gd")
    await user(client, "s-gd", "supervisor", "gd")
    admin = await user(client, "admin", "admin", "national")

    assert (await client.post(RELOAD)).status == 401
    assert (await client.post(RELOAD, headers={"Authorization": "Bearer not-a-session"})).status == 401
    for name in ("c-gd", "s-gd"):
        refused = await client.post(RELOAD, headers=await login(client, name))
        assert refused.status == 403 and (await refused.json())["error"]
    assert router.model is running
    assert await list_audit(client.app[STORE], promoted(artifacts)) == []

    answer = await client.post(RELOAD, headers=await login(client, "admin"))
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    here = body["here"]
    assert (here["reloaded"], here["error"], here["model_id"]) == (True, None, promoted(artifacts))
    assert here["lexicon_version"] == router.detector.lexicon.version
    assert here["calibration"]["method"] == running.calibrator.method
    assert here["calibration"]["rows"] == running.calibrator.rows > 0
    assert here["instance"] == client.app[RISK_MODEL].instance
    assert (body["others"], body["others_reached"]) == ([], 0)  # one gateway, no Redis
    assert router.model is not running  # read again from disk
    [entry] = await list_audit(client.app[STORE], promoted(artifacts))
    assert (entry.actor, entry.action, entry.reason) == (admin.id, "risk_model.reload", "1 of 1 instances confirmed")


async def test_a_broken_artifact_keeps_the_running_model_and_says_why(start_app, settings: Settings,  # type: ignore[no-untyped-def]
                                                                      artifacts: Path) -> None:
    client = await start_app(settings=with_triage(settings))
    router = client.app[STREAM].router
    running = router.model
    await user(client, "admin", "admin", "national")
    headers = await login(client, "admin")

    break_pointer(artifacts)
    refused = await client.post(RELOAD, headers=headers)
    assert refused.status == 409
    body = await refused.json()
    assert body["error"] == "promoted_model_unreadable"
    assert (body["here"]["reloaded"], body["here"]["model_id"]) == (False, promoted(artifacts))
    assert "still running the earlier model" in body["here"]["detail"]
    assert router.model is running
    health = await risk_model_health(client)
    assert health["status"] == "degraded" and "the last reload failed" in health["detail"]
    [entry] = await list_audit(client.app[STORE], promoted(artifacts))
    assert entry.reason is not None and "kept the earlier model" in entry.reason

    shutil.copy(ARTIFACT_DIR / POINTER_NAME, artifacts / POINTER_NAME)  # promoted again, readable
    assert (await client.post(RELOAD, headers=headers)).status == 200
    assert (await risk_model_health(client))["status"] == "ok"


async def test_without_triage_there_is_nothing_to_reload(start_app, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    client = await start_app(settings=settings)
    await user(client, "admin", "admin", "national")
    refused = await client.post(RELOAD, headers=await login(client, "admin"))
    assert (refused.status, await refused.json()) == (409, {"error": "triage_off"})


@pytest.mark.redis
async def test_every_instance_sharing_redis_reloads_and_confirms(start_app, settings: Settings,  # type: ignore[no-untyped-def]
                                                                 artifacts: Path, redis_url: str) -> None:
    shared = with_triage(settings, redis_url=redis_url)
    first, second = await start_app(settings=shared), await start_app(settings=shared)
    models = [client.app[STREAM].router.model for client in (first, second)]
    await user(first, "admin", "admin", "national")
    headers = await login(first, "admin")

    answer = await first.post(RELOAD, headers=headers)
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    assert body["others_reached"] == 1
    [other] = body["others"]
    assert other["instance"] == second.app[RISK_MODEL].instance != body["here"]["instance"]
    assert (other["reloaded"], other["model_id"]) == (True, promoted(artifacts))
    assert [client.app[STREAM].router.model is not model for client, model in zip((first, second), models,
                                                                                  strict=True)] == [True, True]

    break_pointer(artifacts)
    models = [client.app[STREAM].router.model for client in (first, second)]
    refused = await first.post(RELOAD, headers=headers)
    assert refused.status == 409
    [other] = (await refused.json())["others"]
    assert (other["reloaded"], other["error"], other["model_id"]) == (False, "promoted_model_unreadable",
                                                                      promoted(artifacts))
    assert [client.app[STREAM].router.model for client in (first, second)] == models  # both kept theirs
    assert (await risk_model_health(second))["status"] == "degraded"
