"""Property-based fuzzing of everything a platform or a browser sends us.

For any input, each parser either returns its result or raises the channel's clean rejection
(``WebhookRejected``, or the widget's own refusal types); any other exception is a crash — the
500-with-a-traceback the rules forbid.
"""

from __future__ import annotations

import asyncio
import base64
import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from channels.payloads import load_json
from channels.wechat import WeChatChannel
from channels.wechat_protocol import Envelope, WeChatPush, check_fresh, check_signature, parse_body, to_xml
from channels.wecom_kf import KfMessage, kf_inbound
from channels.weibo import parse_push
from channels.widget import WidgetChannel
from channels.widget_identity import IdentityRejected
from channels.widget_media import MediaStore
from channels.widget_session import OpenSessions, SessionDeps, TokenBucket, WidgetSession
from contract.channel import ChannelContext, ConversationAccess, IngestResult, WebhookRejected
from contract.config import DEMO_CONFIG_PATH, load_settings
from tests.fuzz import FUZZ, TRIED

SETTINGS = load_settings(DEMO_CONFIG_PATH, environ={})
WECHAT = next(a for a in SETTINGS.accounts if a.platform == "wechat")
WEIBO = next(a for a in SETTINGS.accounts if a.platform == "weibo")
PARTNER = SETTINGS.partners[0]

# Integers where parsers and datetimes have broken before: far-off times, 64-bit edges, huge values.
EDGE_INTS = st.sampled_from([0, -1, 10**12, 2**31, 2**63, -(2**63), 2**64, 10**400, 4_102_444_801])
SCALARS = (st.none() | st.booleans() | st.integers() | EDGE_INTS | st.floats() | st.text(max_size=40))
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=16)
MARKUP = st.lists(st.sampled_from([
    "<xml>", "</xml>", "<Content>", "</Content>", "<a>", "</a>", "<![CDATA[", "]]>", "<!DOCTYPE x []>",
    "<!ENTITY e 'x'>", "&e;", "&amp;", "&#0;", "<?xml version='1.0' encoding='utf-16'?>", "<?xml encoding='x'?>",
    "[", "]", "{", "}", '"', "\\", ":", ",", "\x00", "\ud800", "é", "[" * 40,  # 30 × 40 > the recursion limit
]) | st.text(max_size=12), max_size=30).map("".join)
BODIES = st.binary(max_size=600) | MARKUP.map(lambda s: s.encode("utf-8", "surrogatepass"))
WECHAT_KEYS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "MsgId", "Content", "PicUrl", "MediaId",
               "Format", "Recognition", "Event", "EventKey", "SessionFrom", "Title", "PagePath", "Url", "Label",
               "ThumbMediaId", "Encrypt"]
MSG_TYPES = st.sampled_from(["text", "image", "voice", "event", "link", "location", "miniprogrampage", "video", ""])
WECHAT_FIELDS = st.fixed_dictionaries(
    {"ToUserName": st.text(max_size=20), "FromUserName": st.text(max_size=20),
     "CreateTime": EDGE_INTS | st.integers(), "MsgType": MSG_TYPES | st.text(max_size=10)},
    optional={key: SCALARS for key in WECHAT_KEYS[4:]})


def wechat_channel() -> WeChatChannel:
    return WeChatChannel(ChannelContext(settings=SETTINGS, ingest=_never, http=_never))


async def _never(*_: Any) -> Any:
    raise AssertionError("not reached while parsing")


def wechat_push(body: bytes, channel: WeChatChannel) -> None:
    try:
        push = WeChatPush.parse(parse_body(body))
        channel.normalise(WECHAT, push)
    except WebhookRejected as rejection:
        assert 400 <= rejection.status < 500 and rejection.reason


@FUZZ
@given(body=BODIES)
def test_wechat_raw_bodies(body: bytes) -> None:
    TRIED["wechat: raw XML/JSON bodies"] += 1
    wechat_push(body, wechat_channel())


@FUZZ
@given(fields=WECHAT_FIELDS, as_json=st.booleans())
def test_wechat_field_values(fields: dict[str, Any], as_json: bool) -> None:
    TRIED["wechat: push field values"] += 1
    try:
        body = json.dumps(fields).encode() if as_json else to_xml(fields).encode("utf-8", "surrogatepass")
    except ValueError:
        return  # not expressible as JSON (e.g. a huge integer): nothing a platform could send
    wechat_push(body, wechat_channel())


@FUZZ
@given(token=st.text(max_size=20), timestamp=st.text(max_size=20) | EDGE_INTS.map(str), nonce=st.text(max_size=12),
       signature=st.text(max_size=50))
def test_wechat_signature_and_freshness(token: str, timestamp: str, nonce: str, signature: str) -> None:
    TRIED["wechat: signature and timestamp"] += 1
    for check in (lambda: check_signature((token, timestamp, nonce), signature), lambda: check_fresh(timestamp, 300)):
        try:
            check()
        except WebhookRejected as rejection:
            assert rejection.status == 403


ENVELOPE = Envelope(WECHAT.encoding_aes_key, WECHAT.id)


@FUZZ
@given(ciphertext=st.text(max_size=80) | st.binary(min_size=16, max_size=96).map(base64.b64encode).map(bytes.decode))
def test_wechat_envelope_decrypt(ciphertext: str) -> None:
    TRIED["wechat: Encrypt envelope"] += 1
    try:
        ENVELOPE.decrypt(ciphertext)
    except WebhookRejected as rejection:
        assert rejection.status in (400, 403)


WEIBO_PUSH = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "voice", "position", "event", "mention", "x"]) | SCALARS},
    optional={"sender_id": SCALARS, "receiver_id": st.just(int(WEIBO.id)) | SCALARS,
              "created_at": st.just("Mon Jul 16 18:09:20 +0800 2012") | SCALARS, "text": SCALARS,
              "data": JSON_VALUES})


@FUZZ
@given(payload=WEIBO_PUSH | JSON_VALUES, raw=BODIES, use_raw=st.booleans())
def test_weibo_pushes(payload: Any, raw: bytes, use_raw: bool) -> None:
    TRIED["weibo: parse_push"] += 1
    try:
        body = raw if use_raw else json.dumps(payload).encode("utf-8", "surrogatepass")
    except ValueError:
        return
    try:
        parse_push(WEIBO, load_json(body))
    except WebhookRejected as rejection:
        assert rejection.status == 400


@FUZZ
@given(entry=st.fixed_dictionaries({"msgid": SCALARS, "origin": SCALARS, "msgtype": SCALARS},
                                   optional={"send_time": EDGE_INTS | SCALARS, "external_userid": SCALARS,
                                             "text": JSON_VALUES, "image": JSON_VALUES, "event": JSON_VALUES})
       | JSON_VALUES)
def test_wecom_kf_entries(entry: Any) -> None:
    TRIED["wecom-kf: sync_msg entries"] += 1
    try:
        kf_inbound("ww", KfMessage.model_validate(entry))
    except ValidationError:
        pass  # the channel skips (and logs) an unreadable entry


class FakeSocket:
    closed = False

    async def send_json(self, payload: dict[str, Any]) -> None:
        json.dumps(payload)

    async def close(self, **_: Any) -> None:
        self.closed = True


class NoSubscription:
    lagged = False

    def follow(self, conversation_id: str) -> None:
        return None

    def close(self) -> None:
        return None


async def _ingested(_: Any) -> IngestResult:
    return IngestResult(message_id="m1", conversation_id="c1", duplicate=False)


async def _nothing(*_: Any) -> Any:
    return []


async def _admitted() -> None:
    return None


def widget_session(data_dir: Path) -> WidgetSession:
    from channels.widget_identity import WidgetIdentity

    conversations = ConversationAccess(recent=_nothing, history=_nothing, mark_read=_nothing,
                                       subscribe=lambda _: NoSubscription(), publish=_nothing, queue_place=_nothing)  # type: ignore[arg-type]
    session = WidgetSession(FakeSocket(), WidgetIdentity("demo-video", "anon:x", True),  # type: ignore[arg-type]
                            SessionDeps(ingest=_ingested, conversations=conversations,
                                        media=MediaStore(data_dir, [SETTINGS.service.data_key]), desk="sz",
                                        # Not under test here: every new conversation is admitted.
                                        admit_new_conversation=_admitted,
                                        source_tags={"widget_source": "fuzz", "widget_anonymous": "1"},
                                        open_sessions=OpenSessions()))
    session._bucket = TokenBucket(1e9, 1e9)  # the rate limit is not what is being fuzzed
    return session


FRAME_TYPES = st.sampled_from(["text", "image", "rating", "typing", "read", "ping", "hello", "nope"])
FRAMES = st.fixed_dictionaries({"type": FRAME_TYPES | SCALARS},
                               optional={"text": SCALARS, "client_id": SCALARS, "data": SCALARS, "score": SCALARS,
                                         "comment": SCALARS, "conversation_id": SCALARS, "seq": SCALARS})


@FUZZ
@given(frame=FRAMES | JSON_VALUES, raw=MARKUP, use_raw=st.booleans())
def test_widget_frames(frame: Any, raw: str, use_raw: bool) -> None:
    TRIED["widget: session frames"] += 1
    try:
        text = raw if use_raw else json.dumps(frame)
    except ValueError:
        return
    with tempfile.TemporaryDirectory() as data_dir:
        assert asyncio.run(widget_session(Path(data_dir)).handle_frame(text)) is True


@FUZZ
@given(hello=st.fixed_dictionaries({"type": st.just("hello")},
                                   optional={"token": SCALARS | st.text(alphabet="abc.-_=", max_size=60),
                                             "session": SCALARS, "seen": JSON_VALUES}))
def test_widget_hello_identity(hello: dict[str, Any]) -> None:
    TRIED["widget: hello identity"] += 1
    with tempfile.TemporaryDirectory() as data_dir:
        service = SETTINGS.service.model_copy(update={"data_dir": data_dir})
        context = ChannelContext(settings=SETTINGS.model_copy(update={"service": service}), ingest=_never,
                                 http=_never, conversations=ConversationAccess(
                                     recent=_nothing, history=_nothing, mark_read=_nothing,
                                     subscribe=lambda _: NoSubscription(), publish=_nothing, queue_place=_nothing))  # type: ignore[arg-type]
        try:
            asyncio.run(WidgetChannel(context)._identify(PARTNER, hello))
        except IdentityRejected as rejection:
            assert rejection.reason
