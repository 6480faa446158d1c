"""The OpenAPI 3.0 document at ``/api/v1/openapi.json``, merged from each API module's ``PATHS``.

Each module under ``handoff/api`` declares ``ROUTES`` (an aiohttp ``RouteTableDef``), ``PATHS``
(OpenAPI path items keyed by the path below ``/api/v1``) and optionally ``SCHEMAS`` (components).
The helpers here keep those declarations short.
"""

from __future__ import annotations

import copy
from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(required: list[str] | None = None, **properties: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def items_of(schema: dict[str, Any]) -> dict[str, Any]:
    return obj(["items"], items={"type": "array", "items": schema})


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True} if "$ref" not in schema else {"allOf": [schema], "nullable": True}


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
TIME = {"type": "string", "format": "date-time"}
STR_LIST = {"type": "array", "items": STR}


def operation(
    summary: str,
    *,
    ok: dict[str, Any] | None = None,
    status: int = 200,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
    errors: tuple[int, ...] = (401, 403),
    empty: tuple[int, ...] = (),
    public: bool = False,
) -> dict[str, Any]:
    """One operation: ``ok`` is the success body schema, ``errors`` the JSON error statuses."""
    responses: dict[str, Any] = {}
    responses[str(status)] = ({"description": "ok", "content": {"application/json": {"schema": ok}}}
                              if ok is not None else {"description": "ok"})
    for code in empty:
        responses[str(code)] = {"description": "no content"}
    for code in errors:
        responses[str(code)] = {"description": "error", "content": {"application/json": {"schema": ERROR}}}
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if public:
        op["security"] = []
    return op


def path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": STR}


def query_param(name: str, schema: dict[str, Any] | None = None, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema or STR}


COMMON_SCHEMAS: dict[str, Any] = {
    "Error": obj(["error"], error=STR),
}


def build_document(modules: list[Any], *, version: str) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(COMMON_SCHEMAS)
    for module in modules:
        for path, item in getattr(module, "PATHS", {}).items():
            paths.setdefault(path, {}).update(copy.deepcopy(item))
        schemas.update(getattr(module, "SCHEMAS", {}))
    return {
        "openapi": "3.0.3",
        "info": {"title": "youthdesk handoff API", "version": version,
                 "description": "Console API of the 12355 youth service desk gateway (see handoff/API.md)."},
        "servers": [{"url": "/api/v1"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "youthdesk_session"},
            },
        },
        "security": [{"bearer": []}, {"cookie": []}],
    }
