"""Logging set-up: readable lines for people, JSON lines for log shippers.

Message bodies are never logged (network logs are kept for months; transcripts are not theirs).
What a request brings (paths, query values, reasons built from its fields) is logged with control
characters escaped, so a ``%0A`` in a URL cannot start a forged log line of its own.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

_STANDARD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# C0 and C1 controls, DEL, and the Unicode line/paragraph separators some log viewers break lines at.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
MAX_FIELD_CHARS = 1000


def escape_control(value: str, limit: int = MAX_FIELD_CHARS) -> str:
    """``value`` on one line: control characters as ``\\xNN``/``\\uNNNN``, cut at ``limit`` characters."""
    cut = value if len(value) <= limit else value[:limit] + "…"
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", cut)


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return escape_control(value)
    if value is None or isinstance(value, int | float):
        return value  # keeps %d and %.2f working
    text = str(value)
    return escape_control(text) if _CONTROL.search(text) else value


class EscapeControlCharacters(logging.Filter):
    """Escapes every argument and extra field of a record (the message template is the code's own)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, dict):
            record.args = {key: _escaped(value) for key, value in record.args.items()}
        elif record.args:
            record.args = tuple(_escaped(value) for value in record.args)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, _escaped(value))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line


def log_handler(stream: TextIO, *, json_lines: bool) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    text_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter(text_format))
    handler.addFilter(EscapeControlCharacters())
    return handler


def configure_logging(*, json_lines: bool, level: int = logging.INFO) -> None:
    root = logging.getLogger()
    root.handlers[:] = [log_handler(sys.stderr, json_lines=json_lines)]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
