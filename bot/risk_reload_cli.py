"""``youthdesk risk reload``: ask the running gateways to load the promoted risk model.

It signs in to the console API as an admin (the password read from stdin, as ``youthdesk createuser``
reads one), calls ``POST /api/v1/risk-model/reload`` (handoff/API.md) and signs out. It prints what each
instance runs now and exits non-zero unless every instance that heard the request loaded the
promoted artifact.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from typing import Any

import aiohttp

TIMEOUT_SECONDS = 30.0  # the gateway waits up to 10 s for other instances' answers


def add_reload(commands: argparse._SubParsersAction) -> None:
    reload = commands.add_parser("reload", help="make the running gateways load the promoted model (an admin's "
                                                "console account; password from stdin)")
    reload.add_argument("--url", default="http://127.0.0.1:8080", help="a gateway's base URL")
    reload.add_argument("--username", required=True, help="an admin's console username")
    reload.set_defaults(handler=_reload)


def _reload(args: argparse.Namespace) -> None:
    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    try:
        lines, ok = asyncio.run(reload_gateways(args.url, args.username, password))
    except aiohttp.ClientError as exc:
        sys.exit(f"youthdesk risk reload: cannot reach {args.url} ({exc})")
    print("\n".join(lines))
    if not ok:
        sys.exit(1)


async def reload_gateways(url: str, username: str, password: str) -> tuple[list[str], bool]:
    """The lines to print, and whether every instance that heard the request runs the promoted model."""
    api = url.rstrip("/") + "/api/v1"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)) as http:
        async with http.post(f"{api}/auth/login", json={"username": username, "password": password}) as signed:
            if signed.status != 200:
                return [f"sign-in refused ({signed.status}: {await _error(signed)})"], False
            headers = {"Authorization": f"Bearer {(await signed.json())['token']}"}
        try:
            async with http.post(f"{api}/risk-model/reload", headers=headers) as answer:
                status, body = answer.status, await _json(answer)
        finally:
            async with http.post(f"{api}/auth/logout", headers=headers):
                pass
    if "here" not in body:
        return [f"refused ({status}: {body.get('error') or 'no reason given'})"], False
    instances = [body["here"], *body["others"]]
    lines = [_describe(instance) for instance in instances]
    heard = 1 + body["others_reached"]
    lines.append(f"{len(instances)} of {heard} instances confirmed")
    if body.get("error"):
        lines.append(f"refused ({status}: {body['error']}): the earlier model keeps running")
    return lines, status == 200 and len(instances) == heard and all(i["reloaded"] for i in instances)


def _describe(instance: dict[str, Any]) -> str:
    calibration = instance["calibration"]
    calibrated = f"{calibration['method']} calibration on {calibration['rows']} rows" if calibration else "uncalibrated"
    model = instance["model_id"] or "no model (lexicon-only triage)"
    state = "reloaded" if instance["reloaded"] else f"NOT reloaded ({instance['error']})"
    return f"{instance['instance']}: {state}; {model}, lexicon {instance['lexicon_version']}, {calibrated}"


async def _error(response: aiohttp.ClientResponse) -> str:
    return str((await _json(response)).get("error") or response.reason or "")


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The API's JSON object, or an empty one (a proxy's error page, say)."""
    try:
        body = json.loads(await response.text())
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
