"""Small-count suppression: small cells hidden as "<5", zeros kept, one more cell hidden when only one would be."""

from __future__ import annotations

from handoff.disclosure import hidden_cells, shown, suppress


def test_small_counts_are_hidden_and_zero_and_large_ones_are_not() -> None:
    assert [shown(n, 5) for n in (0, 1, 4, 5, 12)] == ["0", "<5", "<5", "5", "12"]
    assert suppress({"a": 3, "b": 2, "c": 9, "d": 0}, 5) == {"a": "<5", "b": "<5", "c": "9", "d": "0"}


def test_one_hidden_cell_takes_the_smallest_visible_one_with_it() -> None:
    # With the total printed, 20 - 12 - 7 would give the 1 back.
    counts = {"深圳市": 12, "广州市": 1, "广东省": 7, "其他": 0}
    assert hidden_cells(counts, 5) == {"广州市", "广东省"}
    assert suppress(counts, 5) == {"深圳市": "12", "广州市": "<5", "广东省": "≥5", "其他": "0"}


def test_a_threshold_of_one_hides_nothing() -> None:
    assert suppress({"a": 1, "b": 2}, 1) == {"a": "1", "b": "2"}
