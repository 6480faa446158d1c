"""What the handoff engine tells a youth about who is coming, by risk level.

The engine is the only part that knows whether a staffed desk takes the conversation, so it alone
says so, once per handoff. A youth at risk is never given a wait in minutes or a place behind
others; the crisis steps themselves come from triage's category reply (``bot/replies.py``), which
these texts never contradict. Chat texts: nothing about phones or hanging up.
"""

from __future__ import annotations

# Below level 2 the youth may really wait, and knowing how long is a kindness.
QUEUE_NOTICE = "已为你转接人工老师，你前面还有{ahead}位，预计等待约{minutes}分钟。请不要离开，老师会尽快回复你。"

AT_RISK_ACKNOWLEDGED = (
    "谢谢你告诉我们，你愿意说出来很重要。我们已经请一位值班老师来陪你，老师很快会在这里回复你，"
    "你不用一个人扛着。如果你现在就有危险，请立刻拨打110（报警）或120（急救）；"
    "也可以拨打全国心理援助热线12356。"
)

CONNECTING_NOW = (
    "值班老师正在接入，请留在这里，老师会直接在这里和你说话。"
    "如果你现在就有危险，请立刻拨打110（报警）或120（急救），或者去找身边一个你信任的大人。"
)

# No desk is staffed anywhere above the youth's: say so plainly and give them somewhere to turn tonight.
AT_RISK_NOBODY_ON_DUTY = (
    "谢谢你告诉我们，你说的我们都看到了。现在是值班时间外，值班老师暂时不在线，"
    "上班后会第一时间在这里联系你。在这之前，如果你现在就有危险，请立刻拨打110（报警）或120（急救）；"
    "想找人说说话，可以拨打全国心理援助热线12356，那里随时有人。"
)


def at_risk_notice(level: int) -> str:
    """Level 3 hears that a person is joining now; level 2 that one is on the way."""
    return CONNECTING_NOW if level >= 3 else AT_RISK_ACKNOWLEDGED


# Written to a youth who has waited and may be discouraged: sorry, what to do now, when, and the
# emergency numbers every message about waiting carries (a crisis never gets this text: level < 2).
MESSAGE_OFFER = (
    "不好意思，值班老师现在都在忙，暂时没办法马上回复你。你可以直接在这里留言，把想说的话写下来，"
    "老师会在{due}前回复你。如果你希望老师打电话给你，也可以留下手机号码，只有负责的老师能看到。"
    "如果你现在遇到危险，请马上拨打110或120。"
)
CALLBACK_INVITE = "如果你希望老师打电话给你，也可以在这里留下手机号码，只有负责的老师能看到。"
CALLBACK_NOTED = "收到，老师会打{number}联系你。如果号码写错了，直接再发一次正确的就好。"
