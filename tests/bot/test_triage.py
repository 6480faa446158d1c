"""Triage in the stream: decisions, handoff on risk or a dead bot, silence after handoff, crisis reply."""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import ClassVar

import pytest

from bot.replies import SUICIDE
from bot.risk import RiskAssessment, RiskDetector
from bot.risk_model import RiskScores
from bot.triage import (
    RiskIntent,
    TriageDecision,
    decide,
    load_risk_intents,
    triage_text,
)
from bot.triage_cli import run_triage
from contract.channel import InboundMessage, ReplyPolicy
from contract.config import Settings
from contract.keys import STORE, STREAM
from contract.models import ConversationState, MessageType
from tests.fakes import FakeRasa, Parse, RecordingChannel, inbound, wait_for


class BudgetedChannel(RecordingChannel):
    platform: ClassVar[str] = "weibo"
    reply_policy: ClassVar[ReplyPolicy | None] = ReplyPolicy(window=timedelta(hours=48), max_messages=99)


INTENTS = load_risk_intents()


def youth(text: str, msg_id: str, *, platform: str = "wechat", account: str = "wxdemo0000000001",
          type: MessageType = MessageType.TEXT, event: str | None = None) -> InboundMessage:  # noqa: A002
    return InboundMessage(platform=platform, account=account, external_user_id="youth-1", channel_message_id=msg_id,
                          type=type, text=text, event=event)


@pytest.fixture
def triage_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"service": settings.service.model_copy(update={"triage_enabled": True})})


async def started(start_app, settings: Settings, rasa: FakeRasa | None, channels=None):  # type: ignore[no-untyped-def]
    client = await start_app(settings=settings, channel_classes=channels or [RecordingChannel])
    client.app[STREAM].router.rasa = rasa
    return client


async def messages(client, conversation_id: str) -> list:  # type: ignore[no-untyped-def]
    return await client.app[STREAM].history(conversation_id, include_private=True)


async def processed(client, message_id: str) -> bool:  # type: ignore[no-untyped-def]
    doc = await client.app[STORE].messages.find_one({"_id": message_id})
    return bool(doc and doc["processed"])


# ------------------------------------------------------------------ decide()


def assessment(level: int = 0, category: str | None = None) -> RiskAssessment:
    return RiskAssessment(level, category, [], "t")


def test_diet_confidence_alone_adds_at_most_level_2() -> None:
    intents = {"risk_suicide": RiskIntent(level=3, category="suicide")}
    alone = decide(assessment(), Parse("risk_suicide", 0.99), intents=intents)
    assert (alone.risk, alone.reason) == (2, "risk")
    agreed = decide(assessment(1, "suicide"), Parse("risk_suicide", 0.99), intents=intents)
    assert agreed.risk == 3 and agreed.crisis_reply


def test_a_risk_intent_below_the_threshold_is_no_risk_but_goes_to_a_human() -> None:
    decision = decide(assessment(), Parse("risk_bullying", 0.3), intents=INTENTS)
    assert (decision.risk, decision.handoff, decision.reason) == (0, True, "low_confidence")


def test_ask_human_hands_off_at_normal_priority_and_greetings_do_not() -> None:
    assert decide(assessment(), Parse("ask_human", 0.9), intents=INTENTS).reason == "ask_human"
    assert not decide(assessment(), Parse("greet", 0.9), intents=INTENTS).handoff


def test_risk_intents_sharing_the_ranking_count_together_under_the_top_one() -> None:
    # DIET torn between two risk intents, or pushed under the fallback line: still a risk.
    torn = Parse("nlu_fallback", 0.5, [("nlu_fallback", 0.5), ("risk_self_harm", 0.4), ("risk_suicide", 0.35),
                                       ("out_of_scope", 0.2)])
    decision = decide(assessment(), torn, intents=INTENTS)
    assert (decision.risk, decision.category, decision.reason) == (2, "self_harm", "risk")
    assert "rasa:risk_self_harm:0.75" in decision.cues
    spread = Parse("faq", 0.45, [("faq", 0.45), ("risk_bullying", 0.3), ("out_of_scope", 0.25)])
    assert decide(assessment(), spread, intents=INTENTS).risk == 0


def test_a_lexicon_immediacy_sign_makes_a_risk_only_rasa_found_level_3(detector: RiskDetector) -> None:

    def decide_text(found: RiskAssessment, parse: Parse, text: str) -> TriageDecision:
        return decide(found, parse, intents=INTENTS, immediacy=lambda category: detector.immediacy_sign(text, category))

    rasa_risk = Parse("risk_bullying", 0.9)
    now = decide_text(assessment(), rasa_risk, "他们现在就在校门口等我，手里拿着棍子")
    assert (now.risk, now.category) == (3, "bullying") and now.crisis_reply
    assert any(cue.startswith("imminent:") for cue in now.cues)
    assert decide_text(assessment(), rasa_risk, "他们天天在校门口堵我").risk == 2
    # A friend's danger has no known category: any sign counts ("遗言" is a farewell).
    friend = decide_text(assessment(), Parse("risk_friend_concern", 0.9), "她给我发了遗言，之后一直不回消息")
    assert (friend.risk, friend.category) == (3, "friend_concern")
    # The detector's guards hold: a negated sign, an if-sentence, a retraction.
    suicide = Parse("risk_suicide", 0.9)
    assert decide_text(assessment(), suicide, "活着好累，不是今晚，只是常常这么想").risk == 2
    assert decide_text(assessment(), suicide, "如果马上考砸了，我就不想活了").risk == 2
    assert decide_text(assessment(), suicide, "今晚就不活了哈哈开玩笑的").risk == 2
    # The sign alone, or with an unsure bot, raises nothing: "马上" is in plenty of harmless messages.
    assert decide_text(assessment(), Parse("out_of_scope", 0.9), "我马上就去写作业").risk == 0
    assert decide_text(assessment(), Parse("risk_runaway", 0.4), "救命，作业写不完了").risk == 0


@pytest.mark.parametrize(("text", "guard"), [
    ("电影里那个人从楼上跳下去的镜头好吓人", "framed:电影"),
    ("作业多到想紫砂（bushi", "retracted:bushi"),
    ("这个boss一直把我按在地上打", "fiction:boss"),
    ("网上说的'开盒'是什么意思", "topic_question:是什么意思"),
])
def test_a_risk_only_rasa_reads_into_a_told_about_message_stays_a_concern(detector: RiskDetector, text: str,
                                                                          guard: str) -> None:
    told = detector.told_about(text)
    assert told == guard
    decision = decide(detector.assess(text), Parse("risk_suicide", 0.99), intents=INTENTS, told_about=told)
    assert decision.risk == 1 and guard in decision.cues
    # Not urgent, yet a person reads it: the bot's answer to a risk intent would promise one.
    assert decision.handoff and decision.reason == "low_confidence"


def test_a_lived_message_has_no_told_about_guard_and_rasa_still_counts(detector: RiskDetector) -> None:
    text = "我真的撑不下去了，每天都好累"
    assert detector.told_about(text) is None
    assert decide(detector.assess(text), Parse("risk_suicide", 0.9), intents=INTENTS,
                  told_about=detector.told_about(text)).risk == 2


class CountsFrameReadings:
    """The real detector, counting how often triage asks whether a message is told about."""

    def __init__(self, detector: RiskDetector) -> None:
        self._detector = detector
        self.lexicon = detector.lexicon
        self.frame_readings = 0

    def assess(self, text: str) -> RiskAssessment:
        return self._detector.assess(text)

    def immediacy_sign(self, text: str, category: str) -> str | None:
        return self._detector.immediacy_sign(text, category)

    def told_about(self, text: str) -> str | None:
        self.frame_readings += 1
        return self._detector.told_about(text)


@dataclass(frozen=True)
class FixedModel:
    risk: float

    def scores(self, text: str) -> RiskScores:
        return RiskScores(risk=self.risk, imminent=0.0, category="suicide")


async def test_the_frame_is_read_only_where_it_can_change_the_decision(detector: RiskDetector) -> None:
    framed = "电影里那个人从楼上跳下去的镜头好吓人"
    counting = CountsFrameReadings(detector)

    async def triage(model: FixedModel, rasa: FakeRasa | None = None) -> TriageDecision:
        return await triage_text(framed, detector=counting, model=model, rasa=rasa,  # type: ignore[arg-type]
                                 intents=INTENTS)

    # Neither the model nor Rasa would raise it: the frame would decide nothing, so it is not read.
    assert (await triage(FixedModel(0.1))).risk < 2
    assert (await triage(FixedModel(0.1), FakeRasa("out_of_scope", 0.95))).risk < 2
    assert counting.frame_readings == 0
    # The model would raise it alone: the frame is read, and holds it back.
    assert (await triage(FixedModel(0.8))).risk < 2
    assert counting.frame_readings == 1
    # Rasa reads a suicide into it: the frame is read and keeps it a concern.
    decision = await triage(FixedModel(0.1), FakeRasa("risk_suicide", 0.99))
    assert decision.risk == 1 and "framed:电影" in decision.cues
    assert counting.frame_readings == 2


class HearsDeathEverywhere:
    """A parser that reads suicide into any "死" or "撑不住" and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def parse(self, text: str) -> Parse:
        self.asked.append(text)
        risky = "死" in text or "撑不住" in text
        return Parse("risk_suicide", 0.99) if risky else Parse("out_of_scope", 0.95)


@dataclass(frozen=True)
class HyperboleOnly:
    hyperbole: re.Pattern[str] = re.compile("想死你了|累死了")


class QuietDetector:
    """A detector that sees nothing, so Rasa is always asked (the real lexicon keeps changing)."""

    lexicon = HyperboleOnly()

    def assess(self, text: str) -> RiskAssessment:
        return assessment()

    def immediacy_sign(self, text: str, category: str) -> str | None:
        return None

    def told_about(self, text: str) -> str | None:
        return None


class UndecidedModel:
    """A model with no opinion: it neither vetoes Rasa nor raises anything on its own."""

    def scores(self, text: str) -> RiskScores:
        return RiskScores(risk=0.5, imminent=0.0, category="suicide")


async def test_a_risk_read_into_chat_hyperbole_is_asked_again_without_it() -> None:
    detector, parser, model = QuietDetector(), HearsDeathEverywhere(), UndecidedModel()
    decision = await triage_text("想死你了宝贝，什么时候回来", detector=detector, model=model,  # type: ignore[arg-type]
                                 rasa=parser, intents=INTENTS)
    assert decision.risk == 0 and decision.intent == "out_of_scope"
    assert len(parser.asked) == 2 and "想死你" not in parser.asked[1]
    # A real risk beside the hyperbole survives the second reading; without hyperbole one call is made.
    parser.asked.clear()
    both = await triage_text("累死了，感觉撑不住了", detector=detector, model=model,  # type: ignore[arg-type]
                             rasa=parser, intents=INTENTS)
    assert both.risk == 2 and len(parser.asked) == 2 and "累死" not in parser.asked[1]
    parser.asked.clear()
    await triage_text("今天天气不错", detector=detector, model=model, rasa=parser,  # type: ignore[arg-type]
                      intents=INTENTS)
    assert parser.asked == ["今天天气不错"]


def test_risk_intent_mapping_covers_every_risk_intent() -> None:
    assert set(INTENTS) == {"risk_suicide", "risk_self_harm", "risk_abuse_home", "risk_sexual_abuse", "risk_bullying",
                            "risk_runaway", "risk_exploitation", "risk_friend_concern"}


def test_the_decision_carries_the_model_s_calibrated_probability_and_nothing_decides_on_it() -> None:
    scores = RiskScores(risk=0.9, imminent=0.01, category="suicide", calibrated=0.83)
    calibrated = decide(assessment(2, "suicide"), None, intents=INTENTS, scores=scores)
    uncalibrated = decide(assessment(2, "suicide"), None, intents=INTENTS, scores=replace(scores, calibrated=None))
    assert (calibrated.risk_probability, uncalibrated.risk_probability) == (0.83, None)
    assert replace(calibrated, risk_probability=None) == uncalibrated
    assert decide(assessment(2, "suicide"), None, intents=INTENTS).risk_probability is None  # no model


# ------------------------------------------------------------------ the router


async def test_bot_answers_and_stays_in_bot_state(start_app, triage_settings: Settings) -> None:
    rasa = FakeRasa()
    client = await started(start_app, triage_settings, rasa)
    result = await client.app[STREAM].ingest(inbound("你好"))
    await wait_for(lambda: processed(client, result.message_id))
    history = await messages(client, result.conversation_id)
    assert [(m.sender, m.text) for m in history[1:]] == [("bot", "你好，我是12355小助手。")]
    assert (await client.app[STREAM].get_conversation(result.conversation_id)).state == ConversationState.BOT


async def test_rasa_down_hands_off_and_nothing_is_dropped(start_app, triage_settings: Settings) -> None:
    rasa = FakeRasa()
    rasa.down = True
    client = await started(start_app, triage_settings, rasa)
    result = await client.app[STREAM].ingest(inbound("请问你们几点上班"))
    await wait_for(lambda: processed(client, result.message_id))
    conversation = await client.app[STREAM].get_conversation(result.conversation_id)
    assert conversation.state == ConversationState.QUEUED
    doc = await client.app[STORE].conversations.find_one({"_id": conversation.id})
    assert doc["handoff"]["reason"] == "bot_unavailable"
    assert [m.sender for m in await messages(client, conversation.id) if m.sender == "bot"] == []


async def test_no_rasa_configured_hands_off_too(start_app, triage_settings: Settings) -> None:
    client = await started(start_app, triage_settings, None)
    result = await client.app[STREAM].ingest(inbound("你好"))
    await wait_for(lambda: processed(client, result.message_id))
    doc = await client.app[STORE].conversations.find_one({"_id": result.conversation_id})
    assert doc["state"] == "queued" and doc["handoff"]["reason"] == "bot_unavailable"


async def test_an_faq_question_that_tells_of_harm_reaches_a_counsellor_without_the_faq_answer(
        start_app, triage_settings: Settings) -> None:
    # The right outcome for such a question (README, "The third batch, landed"): a person, not a leaflet.
    rasa = FakeRasa(intent="faq", texts=["想伤害自己的冲动来的时候，可以先试试握冰块……"])
    client = await started(start_app, triage_settings, rasa)
    result = await client.app[STREAM].ingest(inbound("我又想划自己了 怎么忍住"))
    await wait_for(lambda: processed(client, result.message_id))
    doc = await client.app[STORE].conversations.find_one({"_id": result.conversation_id})
    assert doc["state"] == "queued" and doc["handoff"]["reason"] == "risk"
    conversation = await client.app[STREAM].get_conversation(result.conversation_id)
    assert (conversation.risk_level, conversation.risk_category) == (2, "self_harm")
    assert not any(call == "respond" for call, _ in rasa.calls)
    assert [m for m in await messages(client, result.conversation_id) if m.sender == "bot"] == []


async def test_handed_off_conversation_gets_no_bot_replies(start_app, triage_settings: Settings) -> None:
    rasa = FakeRasa(intent="ask_human")
    client = await started(start_app, triage_settings, rasa)
    first = await client.app[STREAM].ingest(inbound("我想找人工", msg_id="a1"))
    await wait_for(lambda: processed(client, first.message_id))
    assert ("pause", first.conversation_id) in rasa.calls
    rasa.intent = "greet"
    calls_before = len(rasa.calls)
    second = await client.app[STREAM].ingest(inbound("还在吗", msg_id="a2"))
    await wait_for(lambda: processed(client, second.message_id))
    assert rasa.calls[calls_before:] == []
    assert [m for m in await messages(client, first.conversation_id) if m.sender == "bot"] == []


async def test_risk_while_with_a_counsellor_raises_the_level_without_a_bot_reply(
        start_app, triage_settings: Settings) -> None:
    rasa = FakeRasa(intent="ask_human")
    client = await started(start_app, triage_settings, rasa)
    first = await client.app[STREAM].ingest(inbound("我想找老师聊聊", msg_id="b1"))
    await wait_for(lambda: processed(client, first.message_id))
    second = await client.app[STREAM].ingest(inbound("其实我不想活了", msg_id="b2"))
    await wait_for(lambda: processed(client, second.message_id))
    conversation = await client.app[STREAM].get_conversation(first.conversation_id)
    assert (conversation.risk_level, conversation.risk_category) == (2, "suicide")
    assert [m for m in await messages(client, conversation.id) if m.sender == "bot"] == []
    stored = await client.app[STORE].messages.find_one({"_id": second.message_id})
    assert stored["risk"]["level"] == 2 and stored["risk"]["cues"]


async def test_the_model_s_estimate_is_kept_on_each_youth_message_it_scored(start_app,
                                                                            triage_settings: Settings) -> None:
    client = await started(start_app, triage_settings, None)
    model = client.app[STREAM].router.model
    assert model is not None and model.calibrator is not None  # the shipped artifact is calibrated
    said = ["其实我不想活了", "谢谢你们", "在吗"]
    results = []
    for n, text in enumerate(said):  # the first is handed off; the others reach the engine while it waits
        results.append(await client.app[STREAM].ingest(inbound(text, msg_id=f"p{n}")))
        await wait_for(lambda: processed(client, results[-1].message_id))
    assert len({result.conversation_id for result in results}) == 1
    for text, result in zip(said, results, strict=True):
        stored = await client.app[STORE].messages.find_one({"_id": result.message_id})
        assert stored["risk_probability"] == pytest.approx(model.scores(text).calibrated)


async def test_level_3_sends_the_crisis_reply_before_handing_off(start_app, triage_settings: Settings) -> None:
    rasa = FakeRasa()
    client = await started(start_app, triage_settings, rasa)
    result = await client.app[STREAM].ingest(inbound("安眠药我已经攒够了，今晚就全吃掉"))
    await wait_for(lambda: processed(client, result.message_id))
    conversation = await client.app[STREAM].get_conversation(result.conversation_id)
    assert conversation.state == ConversationState.QUEUED and conversation.risk_level == 3
    outbound = [m for m in await messages(client, conversation.id) if m.direction == "out"]
    assert outbound[0].sender == "bot" and outbound[0].text == SUICIDE  # the suicide reply: asks directly
    assert "你是不是在想自杀" in SUICIDE and "你现在安全吗" in SUICIDE
    assert "110" in SUICIDE and "120" in SUICIDE and "12356" in SUICIDE
    later = [m.text for m in outbound[1:]]
    assert any("值班老师正在接入" in text for text in later)  # then the engine says who is coming
    assert not any("分钟" in text or "前面还有" in text for text in later)  # never a wait, never "behind"
    assert rasa.calls == [("pause", conversation.id)]  # the detector alone decided; Rasa only paused
    events = await client.app[STORE].events.find({"conversation_id": conversation.id,
                                                  "type": "conversation.state_changed"}).to_list(None)
    assert events[0]["at"] >= outbound[0].created_at


async def test_a_message_routed_again_after_a_crash_gets_one_crisis_text(start_app, triage_settings: Settings,
                                                                        monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A crash between the crisis text and the handoff leaves the message unmarked; routed again after the
    restart, the youth is handed off without reading the crisis text twice."""
    client = await started(start_app, triage_settings, FakeRasa())
    stream = client.app[STREAM]
    router = stream.router

    class Unrouted:
        async def route(self, conversation, message) -> None:  # type: ignore[no-untyped-def]
            return None

    stream.router = Unrouted()
    result = await stream.ingest(inbound("安眠药我已经攒够了，今晚就全吃掉"))
    conversation = await stream.get_conversation(result.conversation_id)
    message = next(m for m in await messages(client, conversation.id) if m.id == result.message_id)

    async def dies(request) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("the process dies here")

    monkeypatch.setattr(router.handoff, "request_handoff", dies)
    with pytest.raises(RuntimeError):
        await router.route(conversation, message)
    monkeypatch.undo()
    await router.route(conversation, message)  # after the restart: still in the bot's hands, so routed again

    assert (await stream.get_conversation(conversation.id)).state == ConversationState.QUEUED
    bot_texts = [m.text for m in await messages(client, conversation.id) if m.sender == "bot"]
    assert bot_texts.count(SUICIDE) == 1


async def test_budgeted_channel_gets_one_merged_reply(start_app, triage_settings: Settings) -> None:
    rasa = FakeRasa(intent="service_info", texts=["12355是共青团的青少年服务台。", "我们为你保密。"])
    client = await started(start_app, triage_settings, rasa, channels=[BudgetedChannel])
    result = await client.app[STREAM].ingest(youth("你们是做什么的", "w1", platform="weibo", account="5000000001"))
    await wait_for(lambda: processed(client, result.message_id))
    bot = [m for m in await messages(client, result.conversation_id) if m.sender == "bot"]
    assert [m.text for m in bot] == ["12355是共青团的青少年服务台。\n\n我们为你保密。"]


async def test_subscribe_welcomes_once_and_menu_click_asks_rasa(start_app, triage_settings: Settings) -> None:
    rasa = FakeRasa(intent="service_info", texts=["我们每天8点到22点在线。"])
    client = await started(start_app, triage_settings, rasa)
    stream = client.app[STREAM]
    for n in (1, 2):
        result = await stream.ingest(youth("", f"s{n}", type=MessageType.EVENT, event="subscribe"))
        await wait_for(lambda r=result: processed(client, r.message_id))
    click = await stream.ingest(youth("intent:service_info", "c1", type=MessageType.EVENT, event="CLICK"))
    await wait_for(lambda: processed(client, click.message_id))
    bot = [m.text for m in await messages(client, click.conversation_id) if m.sender == "bot"]
    assert bot == [triage_settings.accounts[0].welcome, "我们每天8点到22点在线。"]
    assert ("respond", "/service_info") in rasa.calls


async def test_returned_to_the_bot_resumes_rasa(start_app, triage_settings: Settings) -> None:
    rasa = FakeRasa(intent="ask_human")
    client = await started(start_app, triage_settings, rasa)
    stream = client.app[STREAM]
    first = await stream.ingest(inbound("转人工", msg_id="r1"))
    await wait_for(lambda: processed(client, first.message_id))
    await stream.set_state(first.conversation_id, ConversationState.BOT, reason="transfer_bot", by="u1")
    rasa.intent = "greet"
    second = await stream.ingest(inbound("你好", msg_id="r2"))
    await wait_for(lambda: processed(client, second.message_id))
    assert ("resume", first.conversation_id) in rasa.calls
    assert [m.text for m in await messages(client, first.conversation_id) if m.sender == "bot"] == [
        "你好，我是12355小助手。"]


async def test_images_go_to_a_person(start_app, triage_settings: Settings) -> None:
    client = await started(start_app, triage_settings, FakeRasa())
    result = await client.app[STREAM].ingest(youth("", "i1", type=MessageType.IMAGE))
    await wait_for(lambda: processed(client, result.message_id))
    doc = await client.app[STORE].conversations.find_one({"_id": result.conversation_id})
    assert doc["state"] == "queued" and doc["handoff"]["reason"] == "low_confidence"


async def test_healthz_reports_the_bot_degraded_when_rasa_is_down(start_app, triage_settings: Settings) -> None:
    client = await started(start_app, triage_settings, None)
    body = await (await client.get("/healthz")).json()
    assert body["status"] == "ok"
    assert body["parts"]["bot"]["status"] == "degraded" and not body["parts"]["bot"]["required"]
    assert "risk detector active" in body["parts"]["bot"]["detail"]


# ------------------------------------------------------------------ the CLI


async def test_triage_command_on_a_few_lines(settings: Settings) -> None:
    source = io.StringIO('{"text": "笑死我了"}\n{"text": "我同学说她想跳楼"}\nnot json\n{"text": 5}\n'
                         '{"text": "我今晚就去跳河"}\n')
    sink = io.StringIO()
    failed = await run_triage(source, sink, settings.service, None, "")
    lines = [json.loads(line) for line in sink.getvalue().splitlines()]
    assert failed == 2 and len(lines) == 5
    assert lines[0] == {"risk": 0, "category": None, "intent": None, "handoff": True, "cues": []}
    assert lines[1]["risk"] == 2 and lines[1]["category"] == "friend_concern" and lines[1]["handoff"]
    assert "error" in lines[2] and "error" in lines[3]
    assert lines[4]["risk"] == 3 and lines[4]["category"] == "suicide"


async def test_widget_first_message_gets_the_welcome_once(start_app, triage_settings: Settings) -> None:
    client = await started(start_app, triage_settings, FakeRasa(texts=["好的，我在听。"]))
    ids = []
    for n, text in enumerate(["在吗", "我想问个问题"]):
        result = await client.app[STREAM].ingest(youth(text, f"wd{n}", platform="widget", account="demo-video"))
        await wait_for(lambda r=result: processed(client, r.message_id))
        ids.append(result.conversation_id)
    bot = [m.text for m in await messages(client, ids[0]) if m.sender == "bot"]
    welcome = triage_settings.accounts[0].welcome
    assert bot == [welcome, "好的，我在听。", "好的，我在听。"]
