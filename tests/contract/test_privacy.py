"""The privacy notice file: versioned, short enough for one chat message, linking the full notice."""

from __future__ import annotations

from pathlib import Path

import pytest

from contract.privacy import PrivacyNoticeError, load_privacy_notice


def test_the_shipped_notice_links_the_full_one_and_says_help_never_depends_on_it() -> None:
    notice = load_privacy_notice()
    text = notice.short_text("https://12355.example.cn")
    assert text.endswith("完整说明：https://12355.example.cn/privacy")
    for point in ("保存", "只有12355的值班老师", "保存一年", "查看、改正或删除", "都不会影响你得到帮助"):
        assert point in text


@pytest.mark.parametrize(("content", "reason"), [
    ('version = "1"\nshort = "没有链接"\nfull = "全文"\n', "{url}"),
    ('short = "完整说明：{url}"\nfull = "全文"\n', "version"),
    ('version = "1 2"\nshort = "完整说明：{url}"\nfull = "全文"\n', "version"),
    ('version = "1"\nshort = "完整说明：{url}\n', "privacy notice"),
])
def test_a_broken_notice_file_stops_start_up_with_the_reason(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "notice.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PrivacyNoticeError, match=reason):
        load_privacy_notice(path)
    with pytest.raises(PrivacyNoticeError, match="notice"):
        load_privacy_notice(tmp_path / "missing.toml")
