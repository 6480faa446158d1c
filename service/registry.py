"""The platforms youthdesk speaks: one adapter class per platform module."""

from __future__ import annotations

from channels.douyin import DouyinChannel
from channels.hotline import HotlineChannel
from channels.partner_api import PartnerApiChannel
from channels.qq import QQChannel
from channels.wechat import MiniProgramChannel, WeChatChannel
from channels.wecom_kf import WeComKfChannel
from channels.weibo import WeiboChannel
from channels.widget import WidgetChannel
from contract.channel import Channel

CHANNEL_CLASSES: list[type[Channel]] = [WidgetChannel, WeiboChannel, WeChatChannel, MiniProgramChannel,
                                         WeComKfChannel, QQChannel, DouyinChannel, PartnerApiChannel,
                                         HotlineChannel]
