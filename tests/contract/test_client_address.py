"""The client address every per-address limit counts by: X-Forwarded-For only from a trusted proxy."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from channels.widget import WidgetChannel
from contract.client_address import client_address, parse_networks
from contract.config import ConfigError, Settings, load_settings
from handoff.sessions import LoginThrottle
from handoff.web.api.session import THROTTLE
from service.app import create_app
from tests.fakes import RecordingChannel
from tests.handoff_support import PASSWORD, user

PROXIES = parse_networks(["10.0.0.0/8", "127.0.0.1", "fd00::/8"])


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address("127.0.0.1", ["203.0.113.9"], ()) == "127.0.0.1"


def test_a_forged_header_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address("198.51.100.7", ["203.0.113.9"], PROXIES) == "198.51.100.7"
    assert client_address("198.51.100.7", ["10.0.0.1, 127.0.0.1"], PROXIES) == "198.51.100.7"


def test_behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() -> None:
    # The client wrote "1.1.1.1" itself; nginx appended the address it saw (203.0.113.9).
    assert client_address("127.0.0.1", ["1.1.1.1, 203.0.113.9"], PROXIES) == "203.0.113.9"
    # Two proxies: the outer one (10.1.2.3) appended the client, the inner one appended the outer.
    assert client_address("127.0.0.1", ["1.1.1.1, 203.0.113.9, 10.1.2.3"], PROXIES) == "203.0.113.9"
    # Several header lines read as one list, in order.
    assert client_address("127.0.0.1", ["1.1.1.1", "203.0.113.9, 10.1.2.3"], PROXIES) == "203.0.113.9"
    assert client_address("fd00::1", ["2001:db8::5"], PROXIES) == "2001:db8::5"


def test_odd_chains_fall_back_to_the_last_address_a_proxy_vouched_for() -> None:
    assert client_address("127.0.0.1", [], PROXIES) == "127.0.0.1"  # the proxy talks for itself
    assert client_address("127.0.0.1", ["10.0.0.9, 10.0.0.8"], PROXIES) == "10.0.0.9"  # all hops internal
    assert client_address("127.0.0.1", ["203.0.113.9, not-an-ip"], PROXIES) == "127.0.0.1"
    assert client_address("127.0.0.1", ["evil\r\nline, 10.0.0.8"], PROXIES) == "10.0.0.8"
    assert client_address("::ffff:127.0.0.1", ["203.0.113.9"], PROXIES) == "203.0.113.9"  # dual-stack peer
    assert client_address("", ["203.0.113.9"], PROXIES) == ""  # a unix socket: no peer address


def test_a_bad_network_in_the_settings_is_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "bad.toml"
    config.write_text('[service]\ntrusted_proxies = ["10.0.0.0/8", "nginx"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="trusted_proxies.*'nginx'"):
        load_settings(config, environ={})


def _behind(settings: Settings, proxies: list[str], **service: object) -> Settings:
    update = {"trusted_proxies": proxies, **service}
    return settings.model_copy(update={"service": settings.service.model_copy(update=update)})


async def _start_sign_in(start_app, settings: Settings, embedded_client) -> TestClient:  # type: ignore[no-untyped-def]
    """The app with a per-address budget of 3 wrong sign-ins (argon2 makes each one slow)."""
    app = create_app(settings, embedded_client=embedded_client, channel_classes=[RecordingChannel])
    app[THROTTLE] = LoginThrottle(address_budget=3)
    return await start_app(app=app)


async def _spray(client: TestClient, forwarded_for: str, names: range) -> list[int]:
    statuses = []
    for n in names:
        response = await client.post("/api/v1/auth/login", json={"username": f"guess-{n}", "password": "wrong"},
                                     headers={"X-Forwarded-For": forwarded_for})
        statuses.append(response.status)
    return statuses


async def test_a_forged_header_does_not_escape_the_sign_in_budget(start_app, settings: Settings,
                                                                   embedded_client) -> None:  # type: ignore[no-untyped-def]
    client = await _start_sign_in(start_app, _behind(settings, []), embedded_client)
    statuses = [*await _spray(client, "203.0.113.1", range(2)), *await _spray(client, "203.0.113.2", range(2, 4))]
    assert statuses == [401, 401, 401, 429]  # one budget: the peer's


async def test_behind_a_trusted_proxy_each_client_has_its_own_sign_in_budget(start_app, settings: Settings,
                                                                             embedded_client) -> None:  # type: ignore[no-untyped-def]
    client = await _start_sign_in(start_app, _behind(settings, ["127.0.0.1/32"]), embedded_client)
    await user(client, "counsellor-gd", desk="gd")
    assert await _spray(client, "6.6.6.6, 203.0.113.66", range(4)) == [401, 401, 401, 429]
    # The sprayer is refused; a counsellor behind the same proxy is not.
    response = await client.post("/api/v1/auth/login", json={"username": "counsellor-gd", "password": PASSWORD},
                                 headers={"X-Forwarded-For": "198.51.100.7"})
    assert response.status == 200
    # Rewriting the left part of the header does not give the sprayer a new budget.
    assert await _spray(client, "1.2.3.4, 203.0.113.66", range(4, 5)) == [429]


async def test_widget_sockets_are_counted_per_client_behind_the_proxy(start_app, settings: Settings) -> None:
    client = await start_app(settings=_behind(settings, ["127.0.0.1/32"], widget_sockets_per_ip=2),
                             channel_classes=[WidgetChannel])
    url = "/channels/widget/ws?partner=demo-video"
    held = [await client.ws_connect(url, headers={"X-Forwarded-For": "203.0.113.5"}) for _ in range(2)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(url, headers={"X-Forwarded-For": "203.0.113.5"})
    assert refused.value.status == 429
    other = await client.ws_connect(url, headers={"X-Forwarded-For": "198.51.100.7"})  # another youth
    for ws in [*held, other]:
        await ws.close()


async def test_forged_headers_share_the_peer_socket_cap(start_app, settings: Settings) -> None:
    client = await start_app(settings=_behind(settings, [], widget_sockets_per_ip=2), channel_classes=[WidgetChannel])
    url = "/channels/widget/ws?partner=demo-video"
    held = [await client.ws_connect(url, headers={"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(2)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(url, headers={"X-Forwarded-For": "203.0.113.99"})
    assert refused.value.status == 429
    for ws in held:
        await ws.close()
