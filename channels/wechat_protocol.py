"""The WeChat push protocol shared by the official account, mini-program and WeCom customer service.

Pure functions only: signatures, the AES envelope (``Encrypt``), and parsing a push body into a
``WeChatPush``. wechatpy supplies the AES framing (``PrpCrypto``); its own XML parsing uses the
stdlib expat parser through xmltodict, so untrusted XML is parsed here with defusedxml (no DTDs, no
entities, no external references) and the fields are read from the resulting element.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import struct
import time
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError  # noqa: S405 - only types; parsing is defusedxml's
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from wechatpy.crypto import PrpCrypto
from wechatpy.exceptions import InvalidAppIdException

from channels.payloads import MAX_UNIX_SECONDS, load_json_object, timestamp_seconds
from contract.channel import WebhookRejected, constant_time_equals

# WeChat's deepest push (SendPicsInfo > PicList > item > PicMd5Sum) is four levels under <xml>.
MAX_XML_DEPTH = 8


def wechat_signature(*parts: str) -> str:
    """``sha1`` over the sorted, concatenated parts (token, timestamp, nonce[, Encrypt])."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324 - the platform's choice


def check_signature(expected_parts: tuple[str, ...], given: str) -> None:
    if not given:
        raise WebhookRejected(403, "signature missing")
    if not constant_time_equals(wechat_signature(*expected_parts), given.lower()):
        raise WebhookRejected(403, "signature mismatch")


def check_fresh(timestamp: str, window_seconds: int, now: float | None = None) -> float:
    """The signed timestamp in unix seconds, refused (403) outside the window around now."""
    seconds = timestamp_seconds(timestamp)
    if abs((time.time() if now is None else now) - seconds) > window_seconds:
        raise WebhookRejected(403, "timestamp outside the allowed window")
    return seconds


class Envelope:
    """AES-256-CBC ``Encrypt`` field: random16 ‖ len ‖ message ‖ receive id (appid or corpid)."""

    def __init__(self, encoding_aes_key: str, receive_id: str) -> None:
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            raise ValueError("encoding_aes_key is not 43 characters of base64") from None
        if len(key) != 32:
            raise ValueError("encoding_aes_key must decode to 32 bytes")
        self._crypto = PrpCrypto(key)
        self.receive_id = receive_id

    def encrypt(self, plaintext: str) -> str:
        return self._crypto.encrypt(plaintext, self.receive_id).decode()

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext, or WebhookRejected: 400 when undecryptable, 403 when meant for another app."""
        try:
            return self._crypto.decrypt(ciphertext, self.receive_id)
        except InvalidAppIdException:
            raise WebhookRejected(403, "ciphertext is for another app") from None
        except (ValueError, IndexError, struct.error):  # bad base64/padding/length/UTF-8
            raise WebhookRejected(400, "Encrypt cannot be decrypted") from None


def parse_xml(body: bytes | str) -> dict[str, str]:
    """A flat ``<xml>`` push → {tag: text}; nested elements become their own flat dicts' text."""
    try:
        root = fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise WebhookRejected(400, "XML with DTD or entities refused") from None
    except (ParseError, ValueError):
        raise WebhookRejected(400, "malformed XML") from None
    if root.tag != "xml":
        raise WebhookRejected(400, "root element must be <xml>")
    return {child.tag: _text(child, 1) for child in root}


def _text(element: Element, depth: int) -> str:
    if len(element):  # e.g. ScanCodeInfo: keep a readable flat form; nothing we route reads it
        if depth >= MAX_XML_DEPTH:  # the flattening recurses: bound it like JSON nesting
            raise WebhookRejected(400, "XML nested too deeply")
        return json.dumps({child.tag: _text(child, depth + 1) for child in element}, ensure_ascii=False)
    return (element.text or "").strip()


def parse_json(body: bytes | str) -> dict[str, Any]:
    return load_json_object(body)


def parse_body(body: bytes | str) -> dict[str, Any]:
    """XML or JSON, told apart by the first character (mini-programs may push either)."""
    head = body.lstrip()[:1]
    return parse_json(body) if head in (b"{", "{", b"[", "[") else parse_xml(body)


class WeChatPush(BaseModel):
    """One pushed message or event (official account and mini-program), fields as WeChat names them."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, coerce_numbers_to_str=True)

    to_user: str = Field(alias="ToUserName", min_length=1, max_length=128)
    from_user: str = Field(alias="FromUserName", min_length=1, max_length=128)
    create_time: int = Field(alias="CreateTime", ge=0, le=MAX_UNIX_SECONDS)
    msg_type: str = Field(alias="MsgType", min_length=1, max_length=64)
    msg_id: str = Field(default="", alias="MsgId", max_length=64)
    content: str = Field(default="", alias="Content")
    pic_url: str = Field(default="", alias="PicUrl")
    media_id: str = Field(default="", alias="MediaId")
    format: str = Field(default="", alias="Format")
    recognition: str = Field(default="", alias="Recognition")
    event: str = Field(default="", alias="Event", max_length=64)
    event_key: str = Field(default="", alias="EventKey")
    session_from: str = Field(default="", alias="SessionFrom")
    title: str = Field(default="", alias="Title")
    app_id: str = Field(default="", alias="AppId")
    page_path: str = Field(default="", alias="PagePath")
    thumb_url: str = Field(default="", alias="ThumbUrl")
    thumb_media_id: str = Field(default="", alias="ThumbMediaId")
    url: str = Field(default="", alias="Url")
    label: str = Field(default="", alias="Label")

    @field_validator("msg_type", "event")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @classmethod
    def parse(cls, fields: dict[str, Any]) -> WeChatPush:
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise WebhookRejected(400, f"field {'.'.join(map(str, first['loc']))}: {first['msg']}"[:120]) from None


# ------------------------------------------------------------------ building (simulator, tests, replies)

@dataclass(frozen=True, slots=True)
class SignedQuery:
    timestamp: str
    nonce: str

    @classmethod
    def now(cls) -> SignedQuery:
        return cls(str(int(time.time())), str(secrets.randbelow(10**10)))


def to_xml(fields: dict[str, Any]) -> str:
    """A flat push as WeChat writes it (text in CDATA, numbers bare)."""
    def cell(value: Any) -> str:
        if isinstance(value, int):
            return str(value)
        return "<![CDATA[" + str(value).replace("]]>", "]]]]><![CDATA[>") + "]]>"
    return "<xml>" + "".join(f"<{escape(k)}>{cell(v)}</{escape(k)}>" for k, v in fields.items()) + "</xml>"


def encrypted_xml(envelope: Envelope, token: str, plaintext: str, query: SignedQuery,
                  to_user: str) -> tuple[str, str]:
    """(body, msg_signature) of a safe-mode XML push."""
    encrypt = envelope.encrypt(plaintext)
    body = to_xml({"ToUserName": to_user, "Encrypt": encrypt})
    return body, wechat_signature(token, query.timestamp, query.nonce, encrypt)


def encrypted_json(envelope: Envelope, token: str, plaintext: str, query: SignedQuery,
                   to_user: str) -> tuple[str, str]:
    """(body, msg_signature) of a safe-mode JSON push (mini-program)."""
    encrypt = envelope.encrypt(plaintext)
    body = json.dumps({"ToUserName": to_user, "Encrypt": encrypt})
    return body, wechat_signature(token, query.timestamp, query.nonce, encrypt)


def signed_push(*, token: str, encoding_aes_key: str, receive_id: str, mode: str, fields: dict[str, Any],
                push_format: str = "xml", query: SignedQuery | None = None) -> tuple[dict[str, str], bytes]:
    """(query string, body) exactly as WeChat would post ``fields`` in ``mode`` (simulator, tests, bench)."""
    query = query or SignedQuery.now()
    params = {"signature": wechat_signature(token, query.timestamp, query.nonce), "timestamp": query.timestamp,
              "nonce": query.nonce}
    plaintext = json.dumps(fields, ensure_ascii=False) if push_format == "json" else to_xml(fields)
    if mode == "plain":
        return params, plaintext.encode()
    envelope = Envelope(encoding_aes_key, receive_id)
    build = encrypted_json if push_format == "json" else encrypted_xml
    body, msg_signature = build(envelope, token, plaintext, query, str(fields.get("ToUserName", "")))
    if mode == "compatible":  # plaintext fields next to Encrypt
        encrypt = parse_body(body.encode())["Encrypt"]
        merged = {**fields, "Encrypt": encrypt}
        body = json.dumps(merged, ensure_ascii=False) if push_format == "json" else to_xml(merged)
    params.update({"encrypt_type": "aes", "msg_signature": msg_signature})
    return params, body.encode()
