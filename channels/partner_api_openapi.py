"""The partner API's OpenAPI 3.0 description, served at ``/channels/partner-api/openapi.json``.

Kept apart from the console's document (``handoff/web/api``): partners see only what they may call,
and the reply webhook they must implement (``webhooks``-style, as a callback of the message call).
"""

from __future__ import annotations

from typing import Any

STR = {"type": "string"}
SIGNED_HEADERS = [
    {"name": "X-Youthdesk-Timestamp", "in": "header", "required": True, "schema": STR,
     "description": "Unix seconds; refused more than 5 minutes (service.timestamp_window_seconds) from now."},
    {"name": "X-Youthdesk-Signature", "in": "header", "required": True, "schema": STR,
     "description": "hex(HMAC-SHA256(partner secret, timestamp + '.' + raw body))."},
]
ERROR = {"description": "Refused; the reason is short and safe to log.",
         "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def document(public_url: str = "") -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {"title": "youthdesk partner API", "version": "1",
                 "description": "Server-to-server chat between a partner platform and a 12355 desk. Every request "
                                "and every reply webhook is signed; retries are safe (Idempotency-Key)."},
        "servers": [{"url": public_url or "/"}],
        "paths": {"/channels/partner-api/{partner}/messages": {"post": {
            "summary": "A youth's message, from the partner's backend",
            "parameters": [{"name": "partner", "in": "path", "required": True, "schema": STR},
                           *SIGNED_HEADERS,
                           {"name": "Idempotency-Key", "in": "header", "required": True,
                            "schema": {"type": "string", "maxLength": 128},
                            "description": "Unique per message; a retry with the same key and body is answered "
                                           "with the same ids, another body with the same key is 409."}],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/InboundMessage"}}}},
            "responses": {
                "202": {"description": "Stored", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Accepted"}}}},
                "200": {"description": "Already stored (a retry)", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Accepted"}}}},
                "400": ERROR, "403": ERROR, "404": ERROR, "409": ERROR, "413": ERROR,
                "429": {**ERROR, "headers": {"Retry-After": {"schema": {"type": "integer"}}}},
                "503": ERROR,
            },
            "callbacks": {"reply": {"{partner webhook_url}": {"post": {
                "summary": "A desk's reply, pushed to the partner (retried with backoff until 2xx)",
                "parameters": [*SIGNED_HEADERS, {"name": "Idempotency-Key", "in": "header", "required": True,
                                                 "schema": STR, "description": "Our message id."}],
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Reply"}}}},
                "responses": {"2XX": {"description": "Taken; anything else is retried (4xx except 408/425/429 "
                                                     "fails the delivery)"}},
            }}}},
        }}},
        "components": {"schemas": {
            "InboundMessage": {"type": "object", "required": ["user", "text"], "properties": {
                "user": {"type": "string", "maxLength": 128, "description": "The partner's pseudonymous user id"},
                "text": {"type": "string", "maxLength": 2000},
                "tags": {"type": "object", "maxProperties": 10, "additionalProperties": {"type": "string"},
                         "description": "Context for the counsellor (stored as partner_<key>)"}}},
            "Accepted": {"type": "object", "properties": {
                "message_id": STR, "conversation_id": STR, "duplicate": {"type": "boolean"}}},
            "Reply": {"type": "object", "properties": {
                "message_id": STR, "conversation_id": STR, "user": STR,
                "type": {"type": "string", "enum": ["text", "image"]}, "text": STR,
                "media_url": {"type": "string", "nullable": True}}},
            "Error": {"type": "object", "required": ["error"], "properties": {"error": STR}},
        }},
    }
