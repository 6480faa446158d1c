"""The collector's full passes skip what survived the last one; the compaction reclaims frozen cycles."""

from __future__ import annotations

import gc
import weakref

from aiohttp import web

from service.garbage_collection import collector_ctx, compact


class Node:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


async def test_what_survives_a_full_pass_is_not_walked_again_and_frozen_cycles_wait_for_the_compaction() -> None:
    context = collector_ctx(web.Application())
    await anext(context)
    try:
        long_lived = [{"n": n} for n in range(5_000)]
        gc.collect()
        walked = {id(o) for o in gc.get_objects(generation=2)}
        assert gc.get_freeze_count() >= len(long_lived)
        assert not any(id(o) in walked for o in long_lived)  # frozen: the next full pass skips them

        node = Node()
        gone = weakref.ref(node)
        gc.collect()  # frozen while alive
        del node
        gc.collect()
        assert gone() is not None  # garbage now, but frozen: a plain full pass does not look at it
        compact()
        assert gone() is None
        assert gc.get_freeze_count() >= len(long_lived)  # what is still alive is frozen again
    finally:
        await anext(context, None)
    assert gc.get_freeze_count() == 0
    assert all(callback.__module__ != "service.garbage_collection" for callback in gc.callbacks)
