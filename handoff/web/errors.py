"""JSON errors for route handlers: ``raise http_error(404, "not found")``, and the domain's refusals as HTTP."""

from __future__ import annotations

import asyncio
import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from contract.keys import SETTINGS
from handoff.errors import Conflict, HandoffError, Invalid, NotFound, NotPermitted

M = TypeVar("M", bound=BaseModel)

_CLASSES: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 401: web.HTTPUnauthorized, 403: web.HTTPForbidden, 404: web.HTTPNotFound,
    405: web.HTTPMethodNotAllowed, 408: web.HTTPRequestTimeout, 409: web.HTTPConflict,
    413: web.HTTPRequestEntityTooLarge, 415: web.HTTPUnsupportedMediaType, 422: web.HTTPUnprocessableEntity,
    429: web.HTTPTooManyRequests, 503: web.HTTPServiceUnavailable,
}
_DOMAIN_STATUS: dict[type[HandoffError], int] = {NotFound: 404, NotPermitted: 403, Conflict: 409, Invalid: 400}


def http_error(status: int, reason: str) -> web.HTTPException:
    """An aiohttp HTTP exception whose body is ``{"error": reason}``."""
    cls = _CLASSES.get(status, web.HTTPBadRequest)
    kwargs = {"method": "", "allowed_methods": ()} if cls is web.HTTPMethodNotAllowed else {}
    return cls(text=json.dumps({"error": reason}, ensure_ascii=False), content_type="application/json",
               **kwargs)  # type: ignore[arg-type]


def http_error_for(exc: HandoffError) -> web.HTTPException:
    """The JSON 4xx for a domain refusal; "not found" never says what was looked for."""
    status = next((code for kind, code in _DOMAIN_STATUS.items() if isinstance(exc, kind)), 400)
    return http_error(status, "not found" if status == 404 else str(exc))


class BadBody(ValueError):
    """A JSON body that is not the object a model expects; the message says what is wrong."""


def parse_body(body: bytes | str, model: type[M]) -> M:
    """``body`` as ``model``, or BadBody naming the first bad field."""
    try:
        raw = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadBody("body is not valid JSON") from None
    if not isinstance(raw, dict):
        raise BadBody("body must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise BadBody(f"{where}: {first['msg']}") from None


async def read_body(request: web.Request, model: type[M]) -> M:
    """Parse and validate a JSON body; a 400 naming the first bad field otherwise."""
    if request.content_type != "application/json":
        raise http_error(415, "expected application/json")
    try:
        # The server's idle timer stops once the header is in: a body trickling in (or never coming,
        # as on the unauthenticated sign-in) is cut off here, like the webhooks' (channels/payloads.py).
        async with asyncio.timeout(request.app[SETTINGS].service.http_idle_timeout_seconds):
            body = await request.text()
    except TimeoutError:
        raise http_error(408, "body not received in time") from None
    except UnicodeDecodeError:
        raise http_error(400, "body is not valid JSON") from None
    try:
        return parse_body(body, model)
    except BadBody as exc:
        raise http_error(400, str(exc)) from None
