"""The pager: reaching a desk's on-call person by SMS (or voice) when a level-3 alert stays unacknowledged.

``Pager`` is the interface the alert escalation calls; ``pager_from(settings)`` picks the adapter
named by ``[handoff.pager].provider``:

* ``standin`` — ``StandInPager``: JSON over HTTP to the local stand-in (``service/pager_standin.py``),
  used in demo and test. ``POST {endpoint}/send`` ``{"to", "via", "text", "ref"}`` → ``{"id"}``.
* ``aliyun`` — ``AliyunSmsPager``: Aliyun SMS (阿里云短信服务) ``SendSms``, API version 2017-05-25,
  endpoint ``https://dysmsapi.aliyuncs.com/``, RPC style, signature version 1.0 as publicly documented:

  - request parameters: the common ones ``Action=SendSms``, ``Version=2017-05-25``, ``Format=JSON``,
    ``AccessKeyId``, ``SignatureMethod=HMAC-SHA1``, ``SignatureVersion=1.0``, ``SignatureNonce`` (unique
    per request, against replay), ``Timestamp`` (UTC, ``yyyy-MM-ddTHH:mm:ssZ``), ``RegionId=cn-hangzhou``;
    and ``PhoneNumbers`` (comma-separated), ``SignName`` (the approved 短信签名), ``TemplateCode``
    (the approved template, e.g. ``SMS_123456789``), ``TemplateParam`` (JSON of the template's
    variables), ``OutId`` (our reference, echoed in delivery receipts);
  - signing: sort every parameter but ``Signature`` by name; percent-encode names and values as
    RFC 3986 (``A-Z a-z 0-9 - _ . ~`` kept, space as ``%20``, never ``+``); join ``name=value`` with
    ``&`` (the canonicalized query string); ``StringToSign = METHOD & percent("/") &
    percent(canonicalized)``; ``Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``,
    sent as one more (percent-encoded) parameter;
  - answer: JSON ``{"Code": "OK", "Message": "OK", "BizId": "…", "RequestId": "…"}``; any other ``Code``
    (``isv.BUSINESS_LIMIT_CONTROL``, ``isv.MOBILE_NUMBER_ILLEGAL``, …) is a failure.

  The template has to be approved by Aliyun beforehand; ours takes ``desk`` and ``seconds``
  (e.g. "${desk}有一条生命危险级求助${seconds}秒无人确认，请立即登录12355工作台处理"). Voice calls are
  a separate Aliyun product (语音服务 ``SingleCallByTts``) with the same signing; an on-call entry with
  ``via = "voice"`` is sent as SMS by this adapter until that is configured, and the step says so.

Both adapters are tested against the stand-in, which checks the Aliyun signature with the same secret.
The domain knows no HTTP: the adapters speak through a ``Transport`` (``service/pager_http.py`` is the
aiohttp one), so they build, sign and judge requests here and send them there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from contract.config import Settings
from contract.escalation import OnCallEntry, PagerConfig


class PageFailed(Exception):
    """The provider refused or could not be reached; the alert step records why."""


# (method, url, JSON body or None, timeout seconds) -> (HTTP status, JSON answer); raises PageFailed
# when the provider cannot be reached or does not answer JSON.
Transport = Callable[[str, str, dict[str, Any] | None, float], Awaitable[tuple[int, dict[str, Any]]]]


@dataclass(frozen=True, slots=True)
class Page:
    to: OnCallEntry
    text: str  # the full message, for providers that take free text (the stand-in)
    desk_name: str
    seconds: int  # how long the alert has been unacknowledged
    ref: str  # the alert id


class Pager(Protocol):
    async def send(self, page: Page) -> str:
        """Send the page; returns the provider's id for it. Raises ``PageFailed``."""


def percent(value: str) -> str:
    """RFC 3986 percent-encoding as Aliyun's signature v1 wants it."""
    return quote(value, safe="-_.~")


def aliyun_signature(params: dict[str, str], secret: str, method: str = "GET") -> str:
    canonical = "&".join(f"{percent(k)}={percent(v)}" for k, v in sorted(params.items()))
    string_to_sign = f"{method}&{percent('/')}&{percent(canonical)}"
    digest = hmac.new(f"{secret}&".encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class StandInPager:
    def __init__(self, config: PagerConfig, transport: Transport) -> None:
        self.config = config
        self.transport = transport

    async def send(self, page: Page) -> str:
        body = {"to": page.to.phone, "via": page.to.via, "text": page.text, "ref": page.ref}
        status, answer = await self.transport("POST", f"{self.config.endpoint}/send", body,
                                              self.config.timeout_seconds)
        if status != 200 or "id" not in answer:
            raise PageFailed(f"stand-in refused: {status} {answer}")
        return str(answer["id"])


class AliyunSmsPager:
    def __init__(self, config: PagerConfig, transport: Transport) -> None:
        self.config = config
        self.transport = transport

    def signed_params(self, page: Page) -> dict[str, str]:
        params = {
            "Action": "SendSms", "Version": "2017-05-25", "Format": "JSON", "RegionId": "cn-hangzhou",
            "AccessKeyId": self.config.access_key_id, "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
            "SignatureNonce": secrets.token_hex(16),
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "PhoneNumbers": page.to.phone.removeprefix("+86"), "SignName": self.config.sign_name,
            "TemplateCode": self.config.template_code,
            "TemplateParam": json.dumps({"desk": page.desk_name, "seconds": str(page.seconds)}, ensure_ascii=False),
            "OutId": page.ref,
        }
        params["Signature"] = aliyun_signature(params, self.config.access_key_secret)
        return params

    async def send(self, page: Page) -> str:
        query = "&".join(f"{percent(k)}={percent(v)}" for k, v in self.signed_params(page).items())
        status, answer = await self.transport("GET", f"{self.config.endpoint}?{query}", None,
                                              self.config.timeout_seconds)
        if answer.get("Code") != "OK":
            raise PageFailed(f"Aliyun SMS: {status} {answer.get('Code')} {answer.get('Message')}")
        return str(answer.get("BizId", ""))


def pager_from(settings: Settings, transport: Transport) -> Pager | None:
    """The configured pager; None when ``provider = "none"`` (each unacknowledged alert then says so)."""
    config = settings.handoff.pager
    if config.provider == "standin":
        return StandInPager(config, transport)
    if config.provider == "aliyun":
        return AliyunSmsPager(config, transport)
    return None
