"""``make bench``: run every benchmark module in ``bench/`` and print its figures.

Each module exposes ``async def main() -> None`` that prints its own lines. Pass module names
(``python -m bench stream_ingest``) to run only those.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import sys
import time
from pathlib import Path


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    names = sys.argv[1:] or sorted(
        info.name for info in pkgutil.iter_modules([str(Path(__file__).parent)]) if not info.name.startswith("_")
    )
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"\n== {name}: {(module.__doc__ or '').strip().splitlines()[0]}", flush=True)
        started = time.perf_counter()
        asyncio.run(module.main())
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
