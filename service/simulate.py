"""``youthdesk simulate PLATFORM …``: post to a running gateway exactly as the platform would.

Each platform module that can be simulated provides ``add_simulator(platform_parsers)`` which adds
its sub-parser (with ``set_defaults(handler=…)``); list them in ``SIMULATORS``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from service import (
    douyin_simulate,
    hotline_simulate,
    partner_api_simulate,
    qq_simulate,
    wechat_simulate,
    weibo_simulate,
    widget_simulate,
)

SIMULATORS: list[Callable[[argparse._SubParsersAction], None]] = [weibo_simulate.add_simulator,
                                                                   wechat_simulate.add_simulators,
                                                                   widget_simulate.add_simulator,
                                                                   qq_simulate.add_simulator,
                                                                   douyin_simulate.add_simulator,
                                                                   partner_api_simulate.add_simulator,
                                                                   hotline_simulate.add_simulator]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("simulate", help="send a message to the gateway as a platform would")
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="the gateway's base URL")
    platforms = parser.add_subparsers(dest="platform", required=True)
    for add_simulator in SIMULATORS:
        add_simulator(platforms)
