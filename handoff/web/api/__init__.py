"""The console's REST/WebSocket API under ``/api/v1`` (contract: ``handoff/API.md``).

Each module in ``API_MODULES`` exposes ``ROUTES`` (paths relative to ``/api/v1``), ``PATHS`` (its part
of the OpenAPI document), optionally ``SCHEMAS`` and a ``setup(app)`` for app state it needs.
To add routes, add the module to ``API_MODULES``.
"""

from __future__ import annotations

import importlib
import json
import logging
from types import ModuleType

from aiohttp import web

from handoff.errors import HandoffError
from handoff.web.api.links import add_links
from handoff.web.api.openapi import build_document
from handoff.web.auth import csrf_middleware
from handoff.web.errors import http_error, http_error_for

log = logging.getLogger("youthdesk.api")

PREFIX = "/api/v1"
API_MODULES: tuple[str, ...] = (
    "handoff.web.api.session",
    "handoff.web.api.desks",
    "handoff.web.api.queue",
    "handoff.web.api.conversations",
    "handoff.web.api.alerts",
    "handoff.web.api.surge",
    "handoff.web.api.cases",
    "handoff.web.api.appointments",
    "handoff.web.api.safety_plan",
    "handoff.web.api.tasks",
    "handoff.web.api.wellbeing",
    "handoff.web.api.stats",
    "handoff.web.api.data",
    "handoff.web.api.risk_model",
    "handoff.web.api.ws",
)
OPENAPI = web.AppKey("openapi", dict)


@web.middleware
async def json_errors(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """API errors are ``{"error": …}``, the domain's refusals too; unexpected failures are logged, never shown."""
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == "application/json":
            raise
        raise http_error(exc.status, exc.reason.lower()) from None
    except HandoffError as exc:
        raise http_error_for(exc) from None
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return web.json_response({"error": "internal error"}, status=500)


def _modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in API_MODULES]


def setup_api(app: web.Application) -> None:
    """Mount every API module under ``/api/v1`` and serve the merged OpenAPI document."""
    modules = _modules()
    app.middlewares.append(json_errors)
    app.middlewares.append(csrf_middleware)
    for module in modules:
        if hasattr(module, "setup"):
            module.setup(app)
        for route in module.ROUTES:
            assert isinstance(route, web.RouteDef)
            app.router.add_route(route.method, PREFIX + route.path, route.handler, **route.kwargs)
    document = build_document(modules, version="1")
    add_links(document["paths"])
    app[OPENAPI] = document
    app.router.add_get(PREFIX + "/openapi.json", openapi_document)


async def openapi_document(request: web.Request) -> web.Response:
    return web.Response(text=json.dumps(request.app[OPENAPI], ensure_ascii=False),
                        content_type="application/json")
