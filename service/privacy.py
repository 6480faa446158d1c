"""The privacy notice: its full text at ``/privacy`` and the first-contact notice wired into the stream."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from contract.channel import Channel
from contract.keys import LINKS, SETTINGS, STORE, Link
from contract.privacy import FULL_NOTICE_PATH, PrivacyNotice, load_privacy_notice
from gateway.privacy_notice import PrivacyNotices

PRIVACY_NOTICE = web.AppKey("privacy_notice", PrivacyNotice)


def setup_privacy(app: web.Application) -> None:
    """Load the notice (a broken file stops start-up) and serve its full text."""
    notice = app[PRIVACY_NOTICE] = load_privacy_notice()
    app.router.add_get(FULL_NOTICE_PATH, full_notice)
    app[LINKS].append(Link("隐私说明", FULL_NOTICE_PATH, f"青少年首次来访时看到的说明全文（版本 {notice.version}）"))


async def full_notice(request: web.Request) -> web.Response:
    notice = request.app[PRIVACY_NOTICE]
    return web.Response(text=f"{notice.full}\n版本：{notice.version}\n", content_type="text/plain", charset="utf-8")


def first_contact_notices(app: web.Application, channels: Mapping[str, Channel]) -> PrivacyNotices | None:
    """What the stream sends on a contact's first message, or None where the notice is switched off (tests)."""
    service = app[SETTINGS].service
    if not service.privacy_notice_enabled:
        return None
    return PrivacyNotices(
        store=app[STORE], notice=app[PRIVACY_NOTICE],
        public_url=service.public_url or f"http://{service.host}:{service.port}",
        budgeted=frozenset(p for p, channel in channels.items() if channel.reply_policy is not None),
        voice=frozenset(p for p, channel in channels.items() if channel.privacy_notice_by_voice))
