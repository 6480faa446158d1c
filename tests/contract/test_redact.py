"""De-identifying a youth's words before they become a training example."""

from __future__ import annotations

import pytest

from contract.redact import deidentify


@pytest.mark.parametrize(("text", "expected"), [
    ("我叫张小明，在北京市第一中学上初二", "我叫[姓名]，在[学校]上初二"),
    ("我的手机号是 138 1234 5678，微信号是 abc_12345", "我的手机号是 [电话]，微信号是 [微信号]"),
    ("打+86 13912345678找我", "打[电话]找我"),
    ("家里电话010-12345678", "家里电话[电话]"),
    ("身份证号110101200801011234", "身份证号[证件号]"),
    ("邮箱abc.d@qq.com，网址https://x.cn/a?b=1 然后", "邮箱[邮箱]，网址[网址] 然后"),
    ("加我qq：123456789", "加我qq：[QQ号]"),
    ("我的id是wxid_a1b2c3d4", "我的id是[账号]"),
    ("openid是oAbc123def456ghi789jkl0然后", "openid是[账号]然后"),
    ("学号20230115", "学号[号码]"),
    ("@小明 你好", "[用户] 你好"),
    ("班主任王老师说我没用", "班主任[姓名]老师说我没用"),
    ("二中的人天天打我", "[学校]的人天天打我"),
])
def test_identifying_details_are_replaced(text: str, expected: str) -> None:
    assert deidentify(text) == expected


@pytest.mark.parametrize("text", [
    "我已经吃了30片药", "我在学校被打", "我们学校的人都欺负我", "想考好大学但是考不上", "向老师求助过了",
    "跟高中老师说了也没用", "不想活了 switch", "bu xiang huo le", "今天是12月6日", "",
])
def test_what_names_nobody_is_left_alone(text: str) -> None:
    assert deidentify(text) == text


def test_the_youths_own_platform_ids_go_wherever_they_appear() -> None:
    assert deidentify("我的号是 oYouth0001 记住", known=["oYouth0001", ""]) == "我的号是 [账号] 记住"
