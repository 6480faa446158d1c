"""The data key ring: old keys stay readable, the first one encrypts, blind indexes never move."""

from __future__ import annotations

import pytest

from contract.crypto import DataProtector

KEY_A = "x4gY4QbPmB9wJ0dF1zq3hZcVYQ4b5l8Yb1m1tK3j0Xo="
KEY_B = "kL2u3Z0v7XbQ9nWm5c1rT4yE8sA6dF0gH2jK4lM6nP8="


def test_a_new_key_reads_old_data_and_keeps_the_blind_indexes() -> None:
    old, ring = DataProtector(KEY_A), DataProtector.from_keys(KEY_B, f" {KEY_A} ,")
    token = old.encrypt("13800138000")
    assert ring.decrypt(token) == "13800138000"
    assert ring.blind_index("wechat", "wx1", "oOpenId") == old.blind_index("wechat", "wx1", "oOpenId")
    assert DataProtector(KEY_B).decrypt(ring.reencrypt(token)) == "13800138000"
    with pytest.raises(ValueError, match="cannot be read"):
        DataProtector(KEY_B).decrypt(token)


def test_a_bad_ring_key_is_named() -> None:
    with pytest.raises(ValueError, match=r"previous_data_keys\[0\]"):
        DataProtector.from_keys(KEY_A, "not-a-key")
