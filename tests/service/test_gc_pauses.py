"""A long full pass of the garbage collector freezes what it found alive; a short one changes nothing."""

from __future__ import annotations

import gc

import pytest

from service.gc_pauses import FullPassFreezer


@pytest.fixture
def unfrozen():  # type: ignore[no-untyped-def]
    gc.unfreeze()
    yield
    gc.unfreeze()


def _visited_by_full_pass(thing: object) -> bool:
    return any(thing is candidate for candidate in gc.get_objects())


def test_what_a_long_full_pass_left_alive_is_left_out_of_the_next(unfrozen) -> None:  # type: ignore[no-untyped-def]
    freezer = FullPassFreezer(long_pass=0.0)  # every pass counts as long
    stored = [{"n": [n]} for n in range(1_000)]
    freezer.start()
    try:
        gc.collect(1)  # a partial pass: nothing happens
        assert freezer.freezes == 0 and _visited_by_full_pass(stored[0])
        gc.collect()
        assert freezer.freezes == 1 and gc.get_freeze_count() > 1_000
        assert gc.is_tracked(stored[0]) and not _visited_by_full_pass(stored[0])
        later = {"n": [1]}
        assert _visited_by_full_pass(later)  # what comes after is collected as ever
    finally:
        freezer.stop()


def test_a_short_full_pass_freezes_nothing(unfrozen) -> None:  # type: ignore[no-untyped-def]
    freezer = FullPassFreezer(long_pass=60.0)
    stored = [{"n": [n]} for n in range(1_000)]
    freezer.start()
    try:
        gc.collect()
        assert freezer.freezes == 0 and gc.get_freeze_count() == 0 and _visited_by_full_pass(stored[0])
    finally:
        freezer.stop()
    gc.collect()
    assert gc.callbacks.count(freezer._observe) == 0
