"""The detector's failure classes found on real public writing (issue 15), one table each."""

from __future__ import annotations

import pytest

from bot.risk import RiskDetector


@pytest.mark.parametrize(("traditional", "simplified"), [
    ("我已經把一整瓶藥都吞了", "我已经把一整瓶药都吞了"),
    ("我真的不想活了，活著沒意思", "我真的不想活了，活着没意思"),
    ("爸爸喝醉了就打我，身上都是傷", "爸爸喝醉了就打我，身上都是伤"),
    ("我想從樓頂跳下去", "我想从楼顶跳下去"),
])
def test_traditional_reads_like_its_simplified_twin(detector: RiskDetector, traditional: str,
                                                    simplified: str) -> None:
    twin = detector.assess(simplified)
    assert twin.level >= 2
    assert (detector.assess(traditional).level, detector.assess(traditional).category) == (twin.level, twin.category)


@pytest.mark.parametrize("text", [
    "我想switch到理科班", "他说想sleep一会儿", "来自china的交换生人很好", "被block了好几次的账号终于解封",
    "我想ssr抽卡", "我们班要zsdx一起去春游", "这个ta在data里是什么意思", "我妹妹想当singer",
])
def test_latin_slang_never_fires_inside_an_english_word(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 0, detector.assess(text)


@pytest.mark.parametrize(("text", "category"), [
    ("最近总是想s", "suicide"), ("我想zs", "suicide"), ("zs的念头又来了", "suicide"), ("今天又zc了", "self_harm"),
])
def test_latin_slang_as_its_own_token_still_reads(detector: RiskDetector, text: str, category: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2 and result.category == category


@pytest.mark.parametrize("text", ["感冒药吃了还是头疼", "医生开的药吃了，好多了", "胃药吃了没用，还是难受",
                                  "你药吃了吗", "药吃了没，发烧好点没有",
                                  "我现在在天台晒被子", "煤气开了，在炒菜", "坐在铁轨边拍照好好看"])
def test_an_ambiguous_cue_with_an_everyday_reading_is_not_risk(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level < 2, detector.assess(text)


@pytest.mark.parametrize("text", ["我把药吃了", "药都吞下去了", "我现在在天台", "煤气开了"])
def test_an_ambiguous_cue_alone_never_makes_level_3(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 2, detector.assess(text)


@pytest.mark.parametrize("text", ["不想活了，药都吞了", "我把一整盒感冒药都吞了", "药都吃了，头好晕想吐",
                                  "我已经把一整瓶药都吞了", "我现在在天台，再见了大家", "活着没意思，煤气开了",
                                  # the cue's own corroboration holds even in an everyday context
                                  "她说在天台吹吹风，可刚才哭着跟我说对不起", "煤气开了，我闻到味道了，头好晕"])
def test_an_ambiguous_cue_with_something_else_that_says_risk_is_level_3(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 3, detector.assess(text)


@pytest.mark.parametrize("text", [
    "哈哈开玩笑的……不，我不是在开玩笑，我真的想死",
    "开玩笑的啦。说真的，我不想活了",
    "刚才是开玩笑的，可我现在真的想死",
    "我不想活了开玩笑的，不是开玩笑，我是认真的",
    "我不想活了 开玩笑的啦……其实不是",
    "我不想活了。刚才说开玩笑是怕你们担心",
])
def test_a_risk_said_after_a_retraction_is_not_taken_back(detector: RiskDetector, text: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2 and result.category == "suicide", result
    assert not any(cue.startswith("retracted:") for cue in result.cues)


@pytest.mark.parametrize("text", ["我不想活了哈哈开玩笑的", "想死(bushi", "作业多得不想活了，开玩笑的啦",
                                  "开玩笑的哈，刚才说想死是因为考砸了，别当真", "我不想活了 开玩笑的啦 其实不是认真的",
                                  "想死 开玩笑的啦 其实不是很严重", "累到想自杀哈哈开玩笑的 其实不是什么大事"])
def test_a_retraction_after_the_risk_still_takes_it_back(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 1


@pytest.mark.parametrize(("text", "category"), [
    ("恨自己恨到想死", "suicide"), ("我真的讨厌自己讨厌得想死", "suicide"), ("我想把自己饿死", "self_harm"),
    ("这几天故意不吃饭，就想把自己饿死", "self_harm"),
])
def test_hyperbole_blanking_keeps_meant_statements(detector: RiskDetector, text: str, category: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2 and result.category == category, result


@pytest.mark.parametrize("text", ["饿死了，快开饭", "笑死我了", "今天热得要死", "食堂的菜难吃到想死"])
def test_everyday_hyperbole_is_still_blanked(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 0


@pytest.mark.parametrize("text", [
    "没有我，爸妈会过得很好", "我只是大家的累赘，消失了大家都轻松", "我活着只会拖累家里",
    "要是少了我，他们会更轻松吧", "我就是这个家的负担", "家里没有我会清净很多",
])
def test_burdensomeness_is_passive_ideation(detector: RiskDetector, text: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2 and result.category == "suicide", result


@pytest.mark.parametrize("text", ["没有我想的那么难", "没有我的帮忙他也做完了", "我是班里的负责人",
                                  "这次考试没有我想的好", "学习负担太重了"])
def test_burden_words_without_burdensomeness_are_not_risk(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level < 2, detector.assess(text)


@pytest.mark.parametrize(("text", "category"), [
    ("bu xiang huo le", "suicide"), ("wo xiang si", "suicide"), ("zi sha", "suicide"), ("bxhl", "suicide"),
    ("我好累 bxhl", "suicide"), ("zs", "suicide"), ("xiang zi can", "self_harm"),
    ("wo xiang li jia chu zou", "runaway"),
])
def test_pinyin_and_initials_are_read(detector: RiskDetector, text: str, category: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2 and result.category == category, result


@pytest.mark.parametrize("text", ["活着就是受罪，早点死了算了", "每天都在想活着还有什么意思，想过去死"])
def test_a_guard_word_inside_the_risk_phrase_takes_nothing_back(detector: RiskDetector, text: str) -> None:
    # "受罪" is no crime frame and "活着还有什么意思" asks nothing: the guards once read them so.
    assert detector.assess(text).level >= 2, detector.assess(text)
    assert detector.told_about(text) is None


@pytest.mark.parametrize("text", ["故意伤害罪判几年", "自杀是什么意思", "网暴别人算什么罪名"])
def test_a_real_topic_question_or_crime_frame_still_holds(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level < 2, detector.assess(text)


@pytest.mark.parametrize("text", ["他们把我堵在厕所里扒我裤子，还说是开玩笑，我好恶心",
                                  "男同学总是按住我乱摸，老师说那是开玩笑，让我别计较",
                                  "我爸用皮带抽我，他说只是开玩笑吓唬我"])
def test_someone_else_calling_it_a_joke_takes_nothing_back(detector: RiskDetector, text: str) -> None:
    # The writer's own "开玩笑的" retracts; the perpetrator's or a bystander's minimising does not.
    assert detector.assess(text).level >= 2, detector.assess(text)


@pytest.mark.parametrize("text", ["室友以为我开玩笑，其实我是真的不想活了",
                                  "我说想死的时候，他们都当成开玩笑",
                                  "表妹说她不想活了，我还以为她在开玩笑"])
def test_someone_reading_a_remark_as_a_joke_takes_nothing_back(detector: RiskDetector, text: str) -> None:
    # "以为…开玩笑" is how others took it, not the writer taking it back.
    assert detector.assess(text).level >= 2, detector.assess(text)
    assert not any(cue.startswith("retracted:") for cue in detector.assess(text).cues)


@pytest.mark.parametrize("text", ["想死，每天醒来都觉得没什么意思", "不想活了，做什么都没有什么意思"])
def test_nothing_meaning_anything_is_no_topic_question(detector: RiskDetector, text: str) -> None:
    # "没什么意思" says life is empty; "什么意思？" asks what a word means.
    assert detector.assess(text).level >= 2, detector.assess(text)
    assert detector.told_about(text) is None


@pytest.mark.parametrize(("text", "level"), [
    ("告别的话我设了定时 明天早上发出去", 3),  # a farewell scheduled for a near time
    ("零花钱都转给我妹了 你们以后帮我照顾她", 2),  # savings handed over, someone's care handed over
    ("外婆去世了 我没能回去见她最后一面 好难过", 0),  # grief: "去见…最后一面" is no joining the dead
    ("朋友圈设置了定时发布 明早八点 是给我妈的生日祝福", 0),
    ("零花钱都转给我妹了 她生日快到了", 0),
])
def test_farewell_arrangements_and_their_everyday_twins(detector: RiskDetector, text: str, level: int) -> None:
    assert detector.assess(text).level == level, detector.assess(text)


@pytest.mark.parametrize("text", ["药在手里了，这次不跟你们开玩笑，别劝我", "我不跟你们开玩笑，我真的不想活了"])
def test_a_negated_joke_is_insistence_not_a_retraction(detector: RiskDetector, text: str) -> None:
    assert detector.told_about(text) is None
    assert not any(cue.startswith("retracted:") for cue in detector.assess(text).cues)


@pytest.mark.parametrize(("text", "category"), [
    ("我成日覺得自己係屋企嘅負擔，冇咗我佢哋會開心啲", "suicide"),
    ("網上有個叔叔成日同我傾偈，叫我唔好同屋企人講", "sexual_abuse"),
])
def test_written_cantonese_reads_as_its_mandarin_twin(detector: RiskDetector, text: str, category: str) -> None:
    result = detector.assess(text)
    assert result.level >= 2 and result.category == category, result


@pytest.mark.parametrize(("text", "level"), [
    ("有没有人一起烧炭，坐标南京", 2), ("约死，有没有同城的", 2), ("有没有人要一起走的，一个人走太孤单了", 2),
    ("有没有一起的，炭我都买好了，不想一个人", 2),
    ("有没有人一起去爬山，坐标南京", 0), ("我们一起走吧，去食堂", 0), ("一起死吧哈哈，这把团灭了", 0),
])
def test_company_sought_for_dying_and_its_everyday_twins(detector: RiskDetector, text: str, level: int) -> None:
    assert detector.assess(text).level == level, detector.assess(text)


@pytest.mark.parametrize(("text", "level"), [
    ("烧炭能死透吗", 2), ("上吊会不会很疼啊", 2), ("安眠药吃多少才会成功，一瓶够不够", 2),
    ("周末烧烤，烧炭需要几斤", 1), ("冬天用炭火取暖要注意什么，会不会中毒", 0),  # a method word is shown, no risk
])
def test_a_method_asked_about_for_how_well_it_works(detector: RiskDetector, text: str, level: int) -> None:
    assert detector.assess(text).level == level, detector.assess(text)


@pytest.mark.parametrize(("text", "level"), [
    ("谁愿意和我组团去死，私聊", 2), ("有没有人陪我一起离开这个世界", 2), ("这次一定要死成功", 2),
    ("考砸了，想直接撞死算了", 2), ("我今晚就死 不用劝我", 3), ("我都这样了还活着干嘛", 2),
    ("在等一个不用醒来的早上", 2), ("反正我活着也没什么用", 2), ("老豆今晚又打到我流鼻血", 2),
    ("相约周末去跳伞", 0), ("组团跳广场舞的阿姨好多", 0), ("这次考试要死成绩太差了", 0), ("吓死了，差点摔死算了", 0),
    ("周末是不用醒来的早上，爽", 0), ("这个社团不如不要存在了", 0), ("蚊子活着干嘛，就会咬人", 0),
    ("跳楼价清仓 全场三折", 0),
])
def test_a_pact_a_wish_to_die_and_their_everyday_twins(detector: RiskDetector, text: str, level: int) -> None:
    assert detector.assess(text).level == level, detector.assess(text)


@pytest.mark.parametrize(("text", "means"), [
    ("木炭和盆子都买回来了，藏在床底下", True), ("查了好久死的不那么疼的方法", True), ("我想去跳那个水库", True),
    ("头孢吃完再喝两瓶白酒", True), ("我在想要不要跳楼", True), ("日子我已经选好了，定好死期就不怕了", True),
    ("周末去烧烤，木炭买好了", False), ("吃头孢期间不能喝酒", False), ("头孢吃完多久可以喝酒", False),
    ("美术课要用木炭条画素描", False), ("我爸说冬天用炭盆要开窗", False), ("吃完头孢就回酒店睡觉了", False),
    ("我绝对不会不会跳楼的", False), ("明年我要跳到江苏的学校去读书", False), ("手机卡死的问题有办法解决吗", False),
    ("游戏卡了，我要重开", False), ("这次考试就是我的死期", False), ("蟑螂终于死透了", False),
])
def test_a_method_or_means_named_in_few_words_is_read_but_not_its_everyday_twin(
        detector: RiskDetector, text: str, means: bool) -> None:
    """Read as a method, the model decides (``MODEL_WITH_MEANS``); a barbecue, a drawing or a doctor's warning
    is not a means, "要不要" asks rather than denies, and "不会不会" still denies."""
    result = detector.assess(text)
    assert result.mentions_means is means, result


@pytest.mark.parametrize("text", [
    "木炭买好了，跟店员说是烧烤用的，今晚关好门窗", "炭都买好了，骗爸妈说是烧烤用的，周六他们不在家",
])
def test_a_barbecue_told_as_a_cover_is_no_barbecue(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 3, detector.assess(text)


@pytest.mark.parametrize("text", ["mc里跳岩浆自杀会掉装备吗", "推荐一本小说 女主最后从楼顶跳下去了"])
def test_a_sandbox_game_or_a_recommended_novel_is_play_the_model_does_not_raise(
        detector: RiskDetector, text: str) -> None:
    assert (detector.told_about(text) or "").startswith("fiction:"), detector.told_about(text)


@pytest.mark.parametrize(("text", "level"), [
    ("胳膊上新的旧的加起来十几道了，都藏在袖子里", 2), ("小臂上的印子越来越多了", 2),
    ("戒了三个月没割了，昨晚还是破戒了", 2), ("胳膊上那道疤是小时候骑车摔的", 0),
])
def test_self_harm_scars_and_relapse_told_in_passing(detector: RiskDetector, text: str, level: int) -> None:
    assert detector.assess(text).level == level, detector.assess(text)


@pytest.mark.parametrize(("text", "level"), [
    ("在工地干了两个月，中介押着我的身份证，工资一直拖着", 2),
    ("住酒店要押身份证吗", 0),
])
def test_papers_held_at_work(detector: RiskDetector, text: str, level: int) -> None:
    assert detector.assess(text).level == level, detector.assess(text)


@pytest.mark.parametrize(("text", "level"), [
    ("朋友圈清空了，相册都删干净了，最后跟你说声谢谢", 3),
    ("对不起我先走了，猫拜托你照顾，帮我把账号注销掉", 3),
    ("換了新手機，舊相冊都刪了，新號碼發你了", 0),
])
def test_farewells_without_a_risk_word(detector: RiskDetector, text: str, level: int) -> None:
    assert detector.assess(text).level == level, detector.assess(text)


@pytest.mark.parametrize("text", ["他们说今天放学在校门口等我，要废了我，还有半小时", "他说要弄死我，现在就要过来我家"])
def test_a_threat_arriving_within_the_hour_is_level_3(detector: RiskDetector, text: str) -> None:
    assert detector.assess(text).level == 3, detector.assess(text)
