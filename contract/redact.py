"""De-identifying a youth's free text before it leaves the desk as a training example.

What can name a child is replaced by a placeholder that keeps the sentence readable (the risk model
still learns that a phone number was given, not which one): e-mail addresses, web addresses,
@-mentions, resident ID numbers (身份证, 18 or 15 digits), phone numbers (mobile, with or without
+86, and landlines), QQ numbers and WeChat ids after the words that introduce them, platform
identifiers (openid-like tokens, ``wxid_…``, and the contact's own identifiers when known), any run
of six or more digits (student, bank or order numbers), school names, and person names where a
pattern shows one ("我叫…", "名字是…", a surname before 老师/同学/班主任…).

Pattern matching cannot find every name: this lowers the risk, it does not remove it, which is why
the examples stay inside the desk network and are exported only by a named supervisor (audited).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

EMAIL, URL, MENTION, ID_NUMBER, PHONE, QQ, WECHAT, ACCOUNT, NUMBER, SCHOOL, NAME = (
    "[邮箱]", "[网址]", "[用户]", "[证件号]", "[电话]", "[QQ号]", "[微信号]", "[账号]", "[号码]", "[学校]", "[姓名]")

_CJK = r"\u4e00-\u9fff"
# Characters that end a school name's prefix rather than belong to it ("我在学校", "去了中学").
_NOT_IN_NAME = "在的上了我你他她们是去到读念从和跟个这那所里回家被考好想要进等全整新旧"
_NAME_CHAR = rf"(?:(?![{_NOT_IN_NAME}])[{_CJK}])"
# Common surnames, less those that usually start another word before 老师 (向/于/和 老师, 高中老师).
_SURNAMES = ("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁沈"
             "姚卢姜崔钟谭陆汪范廖贾夏韦邹孟熊秦邱尹薛闫段雷侯史陶黎贺顾毛郝龚邵钱严覃武戴莫孔汤")
_TITLES = "老师|同学|班主任|主任|校长|教练|叔叔|阿姨|医生|警官"

# Order matters: the specific patterns run before the generic digit run and account patterns.
_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"), EMAIL),
    (re.compile(r"(?i)(?:https?://|www\.)[!-~]+"), URL),
    (re.compile(r"[@＠][^\s@＠，。,.!！?？:：]{1,20}"), MENTION),
    (re.compile(r"(?<!\d)\d{17}[\dXx](?![\dA-Za-z])|(?<!\d)\d{15}(?!\d)"), ID_NUMBER),
    (re.compile(r"(?<!\d)(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?!\d)"), PHONE),
    (re.compile(r"(?<!\d)0\d{2,3}[\s-]?\d{7,8}(?!\d)"), PHONE),
    (re.compile(r"(?i)wxid_[A-Za-z0-9]+"), ACCOUNT),
    (re.compile(r"(?i)((?<![A-Za-z])(?:qq|扣扣|企鹅)号?(?:码)?\s*(?:是|为|:|：)?\s*)\d{5,11}(?!\d)"), r"\1" + QQ),
    (re.compile(r"(?i)((?<![A-Za-z])(?:微信|weixin|vx|wx|v信|威信)号?\s*(?:是|为|:|：)?\s*)[A-Za-z][-_A-Za-z0-9]{4,19}"),
     r"\1" + WECHAT),
    # openid/unionid-like tokens: long, letters and digits mixed (Python's \b sees Chinese as word characters).
    (re.compile(r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{16,}(?![A-Za-z0-9_-])"),
     ACCOUNT),
    (re.compile(r"\d{6,}"), NUMBER),
    (re.compile(rf"{_NAME_CHAR}{{2,8}}(?:中学|小学|大学|学院|附中|中专|职高|技校|学校|幼儿园)"), SCHOOL),
    (re.compile(r"(?<![一二三四五六七八九十\d])(?:第?[一二三四五六七八九十]{1,3}|\d{1,3})中(?![国文午心间级等])"),
     SCHOOL),
    (re.compile(rf"((?:我叫|名叫|叫做|名字是|名字叫|姓名是|姓名)\s*)[{_CJK}]{{2,3}}(?![{_CJK}])"),
     r"\1" + NAME),
    (re.compile(rf"[{_SURNAMES}](?!中)[{_CJK}]{{0,2}}(?=(?:{_TITLES}))"), NAME),
)


def deidentify(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with identifying details replaced; ``known`` are identifiers of this youth (platform
    ids) to remove wherever they appear, whatever their shape."""
    for identifier in sorted({k for k in known if len(k) >= 4}, key=len, reverse=True):
        text = text.replace(identifier, ACCOUNT)
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text
