"""Names of GB/T 2260 administrative division codes, for reports, human-readable exports and the console.

What it covers (written from the published code list, not copied from any file): every
province-level division (省、自治区、直辖市、特别行政区, the ``xx0000`` codes), and the prefecture-level
cities the demo network's desks sit in or are named after (深圳, 广州, 武汉, 南京, 太原, 昆明). A deployment
whose desks serve other cities adds them to ``CITIES``. A code not in the table is named after the
nearest level that is: ``441900`` (a Guangdong city not listed) reads 广东省, so a reader always sees
the province, and the code itself is shown next to the name wherever it appears.
"""

from __future__ import annotations

from typing import Final

PROVINCES: Final[dict[str, str]] = {
    "11": "北京市", "12": "天津市", "13": "河北省", "14": "山西省", "15": "内蒙古自治区",
    "21": "辽宁省", "22": "吉林省", "23": "黑龙江省",
    "31": "上海市", "32": "江苏省", "33": "浙江省", "34": "安徽省", "35": "福建省", "36": "江西省", "37": "山东省",
    "41": "河南省", "42": "湖北省", "43": "湖南省", "44": "广东省", "45": "广西壮族自治区", "46": "海南省",
    "50": "重庆市", "51": "四川省", "52": "贵州省", "53": "云南省", "54": "西藏自治区",
    "61": "陕西省", "62": "甘肃省", "63": "青海省", "64": "宁夏回族自治区", "65": "新疆维吾尔自治区",
    "71": "台湾省", "81": "香港特别行政区", "82": "澳门特别行政区",
}

CITIES: Final[dict[str, str]] = {
    "440100": "广州市", "440300": "深圳市", "420100": "武汉市", "320100": "南京市", "140100": "太原市",
    "530100": "昆明市",
}


def region_name(code: str | None) -> str | None:
    """The name of a six-digit code: its city when listed (a district reads as its city), else its province;
    None for no code or an unknown province."""
    if not code or len(code) != 6 or not code.isdigit():
        return None
    prefecture = code[:4] + "00"
    if prefecture in CITIES:
        return CITIES[prefecture]
    # A district or county of an unlisted city, or a municipality's 市辖区 (110100): its province-level name.
    return PROVINCES.get(code[:2])


def region_label(code: str | None) -> str:
    """``深圳市（440300）`` for reports and exports; the bare code when it is not in the table."""
    if not code:
        return ""
    name = region_name(code)
    return f"{name}（{code}）" if name else code
