"""GB/T 2260 names: listed cities, districts read as their city, other codes as their province."""

from __future__ import annotations

from contract.regions import PROVINCES, region_label, region_name


def test_every_province_level_division_is_named() -> None:
    assert len(PROVINCES) == 34  # 23 provinces, 5 autonomous regions, 4 municipalities, 2 SARs
    assert region_name("440000") == "广东省" and region_name("650000") == "新疆维吾尔自治区"


def test_cities_districts_and_unlisted_cities() -> None:
    assert region_name("440300") == "深圳市"
    assert region_name("440305") == "深圳市"  # 南山区 reads as its city
    assert region_name("441900") == "广东省"  # a Guangdong city the table does not list
    assert region_name("110105") == "北京市"


def test_unknown_or_malformed_codes_have_no_name() -> None:
    assert region_name("990000") is None
    assert region_name(None) is None and region_name("") is None and region_name("4403") is None
    assert region_label("990000") == "990000"
    assert region_label("440300") == "深圳市（440300）"
