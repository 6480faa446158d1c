"""The crisis replies triage sends a youth at level 3, one per risk category.

Written to crisis-line practice: validation first, no moralising, a direct question about safety
(and about suicide where it is relevant), one concrete step for the next minutes, then the
emergency numbers. They are chat texts: nothing about phones or hanging up. Whether a counsellor is
joining is said once, by the handoff engine, which is the only part that knows (a staffed desk or
the night), so these texts never promise it and never contradict what follows.
"""

from __future__ import annotations

SUICIDE = (
    "谢谢你愿意告诉我们，说出来需要很大的勇气，你现在的痛苦是真实的。"
    "我想直接问你：你是不是在想自杀？你现在安全吗？"
    "如果身边有药、刀、绳子这类可能伤到自己的东西，请先把它们放远一点，或者交给身边的人，"
    "再去一个有人在的地方。"
    "如果你已经伤到自己，或者觉得马上控制不住，请立刻拨打120（急救）或110（报警）；"
    "也可以拨打全国心理援助热线12356。"
)

SELF_HARM = (
    "谢谢你告诉我们，这些感受一定很难熬，你不是一个人。"
    "你现在安全吗？有没有已经伤到自己？有没有想过结束自己的生命？"
    "如果伤口在流血、或者吃了药，请马上拨打120（急救），或者告诉身边一个大人。"
    "如果手边有刀片、药这些东西，请先放远一点，或者交给别人保管。"
    "也可以拨打全国心理援助热线12356。"
)

VIOLENCE = (
    "谢谢你告诉我们，这不是你的错，你不应该被这样对待。"
    "你现在安全吗？如果对方还在身边、或者你觉得有危险，请先去一个安全的地方——"
    "邻居家、学校、派出所，或者人多的地方，然后拨打110报警。"
    "如果受了伤，请拨打120（急救）。"
)

SEXUAL_ASSAULT = (
    "谢谢你告诉我们。发生这件事不是你的错，无论当时发生了什么。"
    "你现在安全吗？如果对方还在身边、或者你有危险，请先离开去一个安全的地方，拨打110报警。"
    "请尽快去医院：72小时内就医，可以检查和处理身体的伤，预防怀孕和感染。"
    "如果可以，先不要洗澡，也先不要洗当时穿的衣服，它们以后可能有用。要不要报警、怎么做，都可以慢慢商量。"
)

RUNAWAY = (
    "谢谢你告诉我们，能想到找人说已经很不容易了。"
    "你现在在哪里，安全吗？请先去一个安全、有人的地方，比如派出所、车站的值班室或者24小时营业的店。"
    "当地的未成年人救助保护机构可以给你临时住的地方和帮助；拨打110，警察也可以送你过去。"
)

EXPLOITATION = (
    "谢谢你告诉我们，这不是你的错，是对方在利用你。"
    "你现在安全吗？请先不要去见对方，不要再转账，也不要再发照片或视频；聊天记录先留着，不用删。"
    "如果你现在有危险，或者对方在威胁你，请拨打110报警。"
)

FRIEND = (
    "谢谢你这么关心你的朋友，你愿意说出来很重要。"
    "如果TA现在就有危险，请马上拨打110或120，并告诉TA身边能赶到的大人，比如家长或老师。"
    "你可以直接问TA：“你是不是在想自杀？”——直接问不会让TA更危险，反而能让TA说出来。"
    "也请照顾好你自己，这件事不用你一个人扛。"
)

GENERAL = (
    "谢谢你愿意告诉我们，你现在的安全是最重要的。你现在安全吗？"
    "如果你现在就有危险，请立刻拨打110（报警）或120（急救），或者去找身边一个你信任的大人。"
    "也可以拨打全国心理援助热线12356。"
)

CRISIS_REPLIES: dict[str, str] = {
    "suicide": SUICIDE,
    "self_harm": SELF_HARM,
    "abuse_home": VIOLENCE,
    "bullying": VIOLENCE,
    "sexual_abuse": SEXUAL_ASSAULT,
    "runaway": RUNAWAY,
    "exploitation": EXPLOITATION,
    "friend_concern": FRIEND,
}


def crisis_reply(category: str | None) -> str:
    """The level-3 reply for ``category``; a category nobody wrote one for gets the general one."""
    return CRISIS_REPLIES.get(category or "", GENERAL)
