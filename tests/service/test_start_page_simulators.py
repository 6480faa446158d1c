"""The start page names a simulator command for every configured account and widget partner."""

from __future__ import annotations

import argparse

from service.simulate import register


async def test_start_page_lists_every_simulator(start_app) -> None:  # type: ignore[no-untyped-def]
    client = await start_app(channel_classes=[])
    html = await (await client.get("/")).text()
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    simulate = parser._subparsers._group_actions[0].choices["simulate"]  # type: ignore[union-attr]
    platforms = set(simulate._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    assert platforms == {"wechat", "miniprogram", "wecom-kf", "weibo", "widget", "qq", "douyin", "partner-api",
                         "hotline"}
    for platform in platforms:
        assert f"youthdesk simulate {platform} " in html, platform
    assert "youthdesk simulate hotline --account demo-callcentre</code>" in html
    assert "youthdesk simulate widget --partner demo-video &quot;你好&quot;" in html
