"""The OpenAPI 3.1 document of the native JSON API, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from typing import Any

_STATUS = {"type": "string", "enum": ["ok", "error"], "default": "ok"}
_TIME = {"type": "string", "format": "date-time", "description": "ISO 8601; without an offset, UTC."}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}

_STEP: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "Unique within the run; defaults to the step's position."},
        "parent": {"type": "string", "description": "id of the parent step; default: the run itself."},
        "kind": {"type": "string", "enum": ["llm", "tool", "agent", "retrieval", "other"], "default": "other"},
        "name": {"type": "string"},
        "agent": {"type": "string", "description": "A sub-agent's slug or name (kind agent)."},
        "model": {"type": "string"},
        "tool_name": {"type": "string"},
        "started_at": _TIME,
        "ended_at": _TIME,
        "duration_ms": {"type": "number", "minimum": 0},
        "status": _STATUS,
        "error_type": {"type": "string"},
        "error_message": {"type": "string"},
        "input_tokens": {"type": "integer", "minimum": 0},
        "output_tokens": {"type": "integer", "minimum": 0},
        "cost": {"type": "string", "description": "USD decimal; default: tokens x the model's price."},
        "input": {"description": "Messages or tool arguments (text or JSON); capped."},
        "output": {"description": "Completion or tool result (text or JSON); capped."},
        "attributes": {"type": "object", "description": "Extra attributes, kept with the step."},
    },
}

_SCORE = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "value": {"type": "number", "description": "0..1 counts toward the run's quality."},
        "label": {"type": "string"},
        "comment": {"type": "string"},
    },
    "required": ["name"],
}

_RUN: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "maxLength": 200, "description": "Your run id; hashed to a trace id."},
        "trace_id": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "Instead of id."},
        "agent": {"type": "string", "description": "Agent slug or name; unknown agents are registered as discovered."},
        "name": {"type": "string"},
        "session_id": {"type": "string"},
        "prompt_version": {"type": "string"},
        "model": {"type": "string"},
        "started_at": _TIME,
        "ended_at": _TIME,
        "duration_ms": {"type": "number", "minimum": 0},
        "status": _STATUS,
        "error_type": {"type": "string"},
        "error_message": {"type": "string"},
        "input": {},
        "output": {},
        "steps": {"type": "array", "items": _STEP, "maxItems": 1000},
        "scores": {"type": "array", "items": _SCORE},
        "escalation": {
            "type": "object",
            "properties": {"reason": {"type": "string"}, "summary": {"type": "string"}, "priority": {"type": "string"}},
        },
    },
    "required": ["agent", "started_at"],
}


def openapi_document() -> dict[str, Any]:
    bearer = [{"apiKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "AgentOps telemetry API",
            "version": "1",
            "description": "Send runs without OpenTelemetry, and feedback on runs; read the prompt version "
                           "to use. OpenTelemetry users send OTLP/HTTP to POST /v1/traces instead (see "
                           "docs/telemetry.md).",
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Run": _RUN, "Step": _STEP, "Score": _SCORE, "Error": _ERROR},
        },
        "security": bearer,
        "paths": {
            "/api/v1/runs": {
                "post": {
                    "summary": "Send runs with their steps (idempotent on run id / trace id)",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["runs"],
                        "properties": {"runs": {"type": "array", "items": {"$ref": "#/components/schemas/Run"},
                                                "maxItems": 1000}},
                    }}}},
                    "responses": {
                        "202": {"description": "Stored durably; processed asynchronously.", "content": {
                            "application/json": {"schema": {"type": "object", "properties": {
                                "batch_id": {"type": ["integer", "null"]},
                                "accepted_runs": {"type": "integer"}, "rejected_runs": {"type": "integer"},
                                "rejected_steps": {"type": "integer"},
                                "trace_ids": {"type": "array", "items": {"type": "string"}},
                                "errors": {"type": "array", "items": {"type": "string"}},
                            }}}}},
                        **_errors("400", "401", "413", "415", "429", "503"),
                    },
                }
            },
            "/api/v1/runs/{trace_id}/feedback": {
                "post": {
                    "summary": "Add a feedback score to a stored run (idempotent on id, else on content)",
                    "parameters": [{"name": "trace_id", "in": "path", "required": True,
                                    "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}}],
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["name"],
                        "properties": {"name": {"type": "string", "maxLength": 120},
                                       "value": {"type": "number", "minimum": 0, "maximum": 1},
                                       "label": {"type": "string", "maxLength": 120},
                                       "comment": {"type": "string"},
                                       "id": {"type": "string", "maxLength": 180}},
                    }}}},
                    "responses": {
                        "201": {"description": "Score stored."},
                        "200": {"description": "Already stored (same id or content)."},
                        **_errors("400", "401", "403", "404", "415", "503"),
                    },
                }
            },
            "/api/v1/agents/{slug}/prompt": {
                "get": {
                    "summary": "The prompt version to use for one request (the active one, or a rolled-out "
                               "candidate for its share of routing keys)",
                    "parameters": [
                        {"name": "slug", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "routing_key", "in": "query", "required": False,
                         "description": "A session, conversation or customer id: the same key always gets the "
                                        "same version. Without it the active version is served.",
                         "schema": {"type": "string", "maxLength": 255}},
                    ],
                    "responses": {
                        "200": {"description": "The version to use.", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["agent", "version", "text", "arm", "rollout"],
                            "properties": {
                                "agent": {"type": "string"}, "version": {"type": "integer"},
                                "text": {"type": "string"}, "arm": {"enum": ["active", "candidate"]},
                                "rollout": {"type": ["object", "null"], "properties": {
                                    "candidate_version": {"type": "integer"},
                                    "share": {"type": "integer", "minimum": 1, "maximum": 99},
                                    "started_at": {"type": "string", "format": "date-time"}}},
                            }}}}},
                        **_errors("400", "401", "403", "404", "405"),
                    },
                }
            },
        },
    }


def _errors(*codes: str) -> dict[str, Any]:
    return {
        code: {"description": "Error; the message says what was wrong.",
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code in codes
    }
