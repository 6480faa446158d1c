"""The start page at ``/``: where a newcomer finds the console, the demo and the simulators."""

from __future__ import annotations

from html import escape

from aiohttp import web

from contract.keys import LINKS, SETTINGS


def render_start_page(app: web.Application) -> str:
    settings = app[SETTINGS]
    items = "\n".join(
        f'<li><a href="{escape(link.href)}">{escape(link.title)}</a> {escape(link.description)}</li>'
        for link in app[LINKS]
    )
    # A phone call has no text to send: its simulator plays a whole call instead.
    commands = [f"youthdesk simulate {a.platform} --account {a.id}" + ("" if a.platform == "hotline" else ' "你好"')
                for a in settings.accounts]
    commands += [f'youthdesk simulate widget --partner {p.id} "你好"' for p in settings.partners]
    accounts = "\n".join(f"<li><code>{escape(command)}</code></li>" for command in commands)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>12355 青少年服务台 · youthdesk</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,"WenQuanYi Micro Hei",sans-serif;max-width:46rem;margin:2rem auto;
padding:0 1rem;line-height:1.6;color:#1d2733}}code{{background:#eef2f6;padding:.1rem .3rem}}</style></head>
<body><h1>12355 青少年服务台 · youthdesk</h1>
<p>运行环境：<strong>{escape(settings.service.env)}</strong> · <a href="/healthz">健康检查 /healthz</a></p>
<h2>入口</h2><ul>{items or "<li>暂无</li>"}</ul>
<h2>模拟器（在另一个终端运行）</h2><ul>{accounts or "<li>未配置渠道账号</li>"}</ul>
</body></html>"""
