"""Issue 18, finding 6: the console WebSocket refuses a handshake from another site's page."""

from __future__ import annotations

import aiohttp
import pytest

from tests.handoff_support import login, start, user


async def test_a_foreign_origin_cannot_open_the_console_socket(start_app) -> None:
    client = await start(start_app)
    await user(client, "c-gd", desk="gd")
    token = (await login(client, "c-gd"))["Authorization"][7:]
    url = f"/api/v1/ws?token={token}"
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect(url, headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    own = f"http://{client.server.host}:{client.server.port}"
    same_site = await client.ws_connect(url, headers={"Origin": own})
    no_browser = await client.ws_connect(url)
    assert not same_site.closed and not no_browser.closed
    await same_site.close()
    await no_browser.close()
