"""The OpenAPI 3.1 description of /api/v1, served at GET /api/v1/openapi.json.

Request bodies and query parameters are the JSON Schemas of the very pydantic models the handlers
validate with (bodies: :class:`hub.web.inputs.Body`, query strings: :class:`hub.web.inputs.Query`), so
the two cannot drift apart: limits, enums, nullability and formats are stated once, in the model.
Responses are written out here and pinned by tests that validate real answers against this document
(objects are closed: an undocumented field fails them) and by a bounded schemathesis run
(tests/hub/web/api/test_schemathesis.py).
"""

from __future__ import annotations

import functools
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from channels.api.parse import MessageBody
from hub.web.api import admin as api_admin
from hub.web.api import audit as api_audit
from hub.web.api import auth as api_auth
from hub.web.api import contacts as api_contacts
from hub.web.api import conversations as api_conversations
from hub.web.api import quarantine as api_quarantine
from hub.web.api import tasks as api_tasks
from hub.web.api import timeline as api_timeline
from hub.web.inputs import MAX_ID, STORABLE_TEXT, Query

routes = web.RouteTableDef()

Schema = dict[str, Any]
JSON = "application/json"

# -- schema helpers ----------------------------------------------------------------------------------


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kind = schema["type"]
    out = {**schema, "type": [*(kind if isinstance(kind, list) else [kind]), "null"]}
    if "enum" in schema:
        out["enum"] = [*schema["enum"], None]
    return out


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = ()) -> Schema:
    """A closed object: every property required unless named in `optional`, nothing else allowed."""
    return {
        "type": "object",
        "properties": properties,
        "required": [p for p in properties if p not in optional],
        "additionalProperties": False,
    }


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def listing(name: str, *, paged: bool = False) -> Schema:
    props: dict[str, Schema] = {"items": array(ref(name))}
    if paged:
        props |= {"limit": INT, "offset": INT}
    return obj(props)


ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
INT: Schema = {"type": "integer"}
STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}
N_ID, N_STR, N_TIME = nullable(ID), nullable(STR), nullable(TIME)
STATUS: Schema = {"type": "string", "enum": ["open", "pending", "snoozed", "resolved"]}
ROLE: Schema = {"type": "string", "enum": ["agent", "supervisor", "admin"]}


def body_schema(model: type[BaseModel]) -> Schema:
    schema: Schema = _tidy(model.model_json_schema(ref_template="#/components/schemas/{model}"))
    return schema


def _tidy(schema: Any) -> Any:
    """pydantic's schema as the document states it: no titles; plain text says it takes no NUL; a
    ``default: null`` only where null is a value (a field that may be left out but not null has none)."""
    if isinstance(schema, list):
        return [_tidy(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _tidy(value) for key, value in schema.items() if key != "title"}
    if "properties" in schema:  # property names are data here, not keywords
        out["properties"] = {name: _tidy(value) for name, value in schema["properties"].items()}
    kinds = out.get("type")
    if (kinds == "string" or (isinstance(kinds, list) and "string" in kinds)) and not (
        {"pattern", "format", "enum", "const"} & out.keys()
    ):
        out["pattern"] = STORABLE_TEXT
    if "default" in out and out["default"] is None and not _allows_null(out):
        del out["default"]
    return out


def _allows_null(schema: Schema) -> bool:
    kinds = schema.get("type")
    return (
        kinds == "null"
        or (isinstance(kinds, list) and "null" in kinds)
        or any(_allows_null(option) for option in schema.get("anyOf", []))
    )


def query_params(model: type[Query]) -> list[Schema]:
    """A route's query parameters, from the Query model its handler reads them with."""
    schema = body_schema(model)
    required = set(schema.get("required", []))
    out = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        options = [o for o in prop.pop("anyOf", []) if o != {"type": "null"}]  # absent is "none"
        if len(options) == 1:
            prop |= options[0]
        elif options:
            prop["anyOf"] = options
        if prop.get("default", ...) is None:
            del prop["default"]
        out.append(param(name, "query", prop, description, required=name in required))
    return out


# -- components ----------------------------------------------------------------------------------------

TRUST: Schema = {"type": "string", "enum": ["vouched", "typed"]}
IDENTITY = obj({"id": ID, "kind": STR, "value": STR, "trust": TRUST, "created_at": TIME})
CONTACT_SUMMARY_PROPS: dict[str, Schema] = {
    "id": ID,
    "name": N_STR,
    "company": N_STR,
    "kind": {"type": "string", "enum": ["lead", "client"]},
}
CONTACT_PROPS: dict[str, Schema] = {
    **CONTACT_SUMMARY_PROPS,
    "owner_id": N_ID,
    "source_channel": N_STR,
    "source_detail": N_STR,
    "tags": array(STR),
    "custom_fields": {"type": "object"},
    "notes": N_STR,
    "created_at": TIME,
    "updated_at": TIME,
    "identities": array(ref("Identity")),
}
CONVERSATION_PROPS: dict[str, Schema] = {
    "id": ID,
    "contact_id": ID,
    "account_id": ID,
    "channel": STR,
    "subject": N_STR,
    "status": STATUS,
    "assignee_id": N_ID,
    "team_id": N_ID,
    "priority": INT,
    "created_at": TIME,
    "updated_at": TIME,
    "last_message_at": N_TIME,
    "waiting_since": N_TIME,
    "first_response_at": N_TIME,
    "first_response_due": N_TIME,
    "resolved_at": N_TIME,
    "snoozed_until": N_TIME,
    "blocked_reason": N_STR,
}
AGENT_PROPS: dict[str, Schema] = {
    "id": ID,
    "email": STR,
    "name": STR,
    "role": ROLE,
    "capacity": INT,
    "extension": N_STR,
    "language": nullable({"type": "string", "enum": ["ru", "en"]}),
    "is_active": BOOL,
    "teams": array(ref("Team")),
    "presence": {"type": "string", "enum": ["online", "offline"]},
}
TOKEN_PROPS: dict[str, Schema] = {"id": ID, "name": STR, "created_at": TIME, "last_used_at": N_TIME}

SCHEMAS: dict[str, Schema] = {
    "Error": obj(
        {
            "error": obj(
                {
                    "code": {"type": "string", "description": "machine-readable: invalid_json, not_found …"},
                    "message": {"type": "string", "description": "what is wrong, for a person"},
                    "field": {**N_STR, "description": "the offending input (dotted path), if one"},
                }
            )
        }
    ),
    "Identity": IDENTITY,
    "ContactSummary": obj(CONTACT_SUMMARY_PROPS),
    "Contact": obj(CONTACT_PROPS),
    "ContactDetail": obj({**CONTACT_PROPS, "conversations": array(ref("Conversation"))}),
    "ContactList": listing("Contact", paged=True),
    "DuplicatePair": obj({"id": ID, "reason": STR, "a": ref("Contact"), "b": ref("Contact")}),
    "DuplicateList": listing("DuplicatePair"),
    "Conversation": obj(CONVERSATION_PROPS),
    "ConversationListItem": obj({**CONVERSATION_PROPS, "contact": ref("ContactSummary")}),
    "ConversationList": listing("ConversationListItem", paged=True),
    "Attachment": obj(
        {
            "id": ID,
            "filename": STR,
            "content_type": STR,
            "size": INT,
            "sha256": N_STR,
            "refused": {**N_STR, "description": "why the file was not stored"},
        }
    ),
    "Message": obj(
        {
            "id": ID,
            "conversation_id": ID,
            "direction": {"type": "string", "enum": ["in", "out", "note"]},
            "kind": STR,
            "contact_id": N_ID,
            "agent_id": N_ID,
            "subject": N_STR,
            "text": STR,
            "html": {**N_STR, "description": "sanitized HTML"},
            "sent_at": N_TIME,
            "created_at": TIME,
            "delivery_status": nullable(
                {"type": "string", "enum": ["queued", "sent", "delivered", "failed"]}
            ),
            "delivery_error": N_STR,
            "attachments": array(ref("Attachment")),
        }
    ),
    "ConversationDetail": obj(
        {**CONVERSATION_PROPS, "contact": ref("Contact"), "messages": array(ref("Message"))}
    ),
    "Team": obj({"id": ID, "name": STR}),
    "TeamList": listing("Team"),
    "AuditEntry": obj(
        {
            "id": ID,
            "created_at": TIME,
            "action": STR,
            "entity": STR,
            "entity_id": N_ID,
            "actor_agent_id": N_ID,
            "detail": {
                "type": "object",
                "description": "what happened; a log-in: email, ip, user_agent, result, via",
            },
        }
    ),
    "AuditList": listing("AuditEntry", paged=True),
    "Agent": obj(AGENT_PROPS),
    "AgentList": listing("Agent"),
    "Me": obj(
        {
            "agent": ref("Agent"),
            "auth": {"type": "string", "enum": ["session", "token"]},
            "csrf_token": {
                **N_STR,
                "description": "send it as X-CSRF-Token with every cookie-authenticated change",
            },
        }
    ),
    "ConversationRef": obj({"id": ID, "channel": STR, "subject": N_STR, "status": STATUS}),
    "CallSummary": obj(
        {
            "id": ID,
            "direction": {"type": "string", "enum": ["inbound", "outbound", "internal"]},
            "from": N_STR,
            "to": N_STR,
            "did": N_STR,
            "agent_id": N_ID,
            "disposition": nullable(
                {"type": "string", "enum": ["answered", "missed", "busy", "failed", "voicemail"]}
            ),
            "started_at": N_TIME,
            "answered_at": N_TIME,
            "ended_at": N_TIME,
            "wait_seconds": nullable(INT),
            "talk_seconds": nullable(INT),
            "recording_url": N_STR,
        }
    ),
    "TimelineEntry": obj(
        {
            "type": {"type": "string", "enum": ["message", "call"]},
            "at": TIME,
            "conversation": {
                **nullable(ref("ConversationRef")),
                "description": "null for a call of no dialog",
            },
            "message": {**ref("Message"), "description": "for type message (with notes: direction note)"},
            "call": {**ref("CallSummary"), "description": "for type call"},
        },
        optional=("message", "call"),
    ),
    "Timeline": obj({"contact_id": ID, "items": array(ref("TimelineEntry"))}),
    "ApiToken": obj(TOKEN_PROPS),
    "ApiTokenList": listing("ApiToken"),
    "NewApiToken": obj({**TOKEN_PROPS, "token": {"type": "string", "description": "shown once"}}),
    "Task": obj(
        {
            "id": ID,
            "kind": {"type": "string", "enum": ["todo", "callback"]},
            "title": STR,
            "status": {"type": "string", "enum": ["open", "done", "cancelled"]},
            "contact_id": N_ID,
            "conversation_id": N_ID,
            "call_id": N_ID,
            "assignee_id": N_ID,
            "team_id": N_ID,
            "due_at": N_TIME,
            "created_at": TIME,
            "closed_at": N_TIME,
            "result": N_STR,
        }
    ),
    "TaskList": listing("Task", paged=True),
    "ChannelAccount": obj(
        {
            "id": ID,
            "name": STR,
            "kind": STR,
            "team_id": N_ID,
            "state": {
                "type": "string",
                "description": "running, retrying, auth_failed, misconfigured or stopped",
            },
            "detail": N_STR,
            "restarts": INT,
            "since": N_TIME,
            "problem": {**N_STR, "description": "a configuration problem that keeps it from running"},
            "last_received_at": {**N_TIME, "description": "its newest inbound message or call"},
            "quarantined": {**INT, "description": "items it received and could not take (the quarantine)"},
        }
    ),
    "ChannelAccountList": listing("ChannelAccount"),
    "QuarantineItem": obj(
        {
            "id": ID,
            "account_id": ID,
            "reason": STR,
            "position": {**N_STR, "description": "where the channel read it: an update id, a UID, a line"},
            "size": INT,
            "sha256": STR,
            "received_at": TIME,
            "attempts": {**INT, "description": "retries since the first refusal"},
            "retried_at": N_TIME,
        }
    ),
    "QuarantineList": listing("QuarantineItem"),
    "RetryOutcome": obj(
        {
            "id": ID,
            "account_id": ID,
            "status": {"type": "string", "enum": ["ingested", "refused"]},
            "reason": {**N_STR, "description": "why it stays (refused)"},
            "results": array({"type": "object"}),
        }
    ),
    "RetryOutcomeList": listing("RetryOutcome"),
    "IngestResult": obj({"contact_id": ID, "conversation_id": ID, "message_id": ID, "duplicate": BOOL}),
}

BODIES: dict[str, type[BaseModel]] = {
    "ApiChannelMessage": MessageBody,
    "LoginBody": api_auth.LoginBody,
    "RetryBody": api_quarantine.RetryBody,
    "TokenBody": api_auth.TokenBody,
    "PasswordChange": api_auth.PasswordChange,
    "ContactPatch": api_contacts.ContactPatch,
    "IdentityBody": api_contacts.IdentityBody,
    "MergeBody": api_contacts.MergeBody,
    "AssignBody": api_conversations.AssignBody,
    "StatusBody": api_conversations.StatusBody,
    "ReplyBody": api_conversations.ReplyBody,
    "NoteBody": api_conversations.NoteBody,
    "AgentCreate": api_admin.AgentCreate,
    "AgentPatch": api_admin.AgentPatch,
    "TeamCreate": api_admin.TeamCreate,
    "TaskCreate": api_tasks.TaskCreate,
    "TaskPatch": api_tasks.TaskPatch,
}

ERRORS = {
    "400": ("BadRequest", "malformed JSON, or a field or parameter that is wrong (named in error.field)"),
    "401": ("Unauthorized", "no credentials, or wrong ones"),
    "403": ("Forbidden", "not allowed for this agent (role, queue), or a missing CSRF token"),
    "404": ("NotFound", "no such object"),
    "413": ("PayloadTooLarge", "the body is over the configured limit"),
    "415": ("UnsupportedMediaType", "the body is not sent as JSON"),
    "422": (
        "Unprocessable",
        "well-formed but refused: a reference that does not exist, a rule of the domain",
    ),
    "429": ("TooManyRequests", "over a rate limit: try again after the Retry-After header's seconds"),
}

# -- operations ----------------------------------------------------------------------------------------


def json_content(schema: Schema) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def param(name: str, where: str, schema: Schema, description: str = "", *, required: bool = False) -> Schema:
    out: Schema = {"name": name, "in": where, "schema": schema, "required": required or where == "path"}
    if description:
        out["description"] = description
    return out


PATH_ID = param("id", "path", ID)
CSRF = param(
    "X-CSRF-Token",
    "header",
    STR,
    "the session's CSRF token: required when authenticated by the session cookie",
)


def op(
    summary: str,
    tag: str,
    responses: dict[str, tuple[str, Schema | None]],
    *,
    body: str | Schema | None = None,
    body_required: bool = True,
    params: list[Schema] | None = None,
    public: bool = False,
    errors: tuple[str, ...] = (),
    unsafe: bool = False,
) -> Schema:
    """One operation; every operation may also answer any documented error with the Error shape."""
    out: Schema = {"summary": summary, "tags": [tag], "responses": {}}
    parameters = list(params or [])
    if unsafe and not public:
        parameters.append(CSRF)
    if parameters:
        out["parameters"] = parameters
    if public:
        out["security"] = []
    if body is not None:
        request_schema = ref(body) if isinstance(body, str) else body
        out["requestBody"] = {"required": body_required, "content": json_content(request_schema)}
    for status, (description, schema) in responses.items():
        response: Schema = {"description": description}
        if schema is not None:
            response["content"] = json_content(schema)
        out["responses"][status] = response
    wanted = set(errors) | {"400"} | (set() if public else {"401"})
    if body is not None:
        wanted |= {"413", "415"}
    for status in sorted(wanted):
        out["responses"][status] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    out["responses"]["default"] = {"$ref": "#/components/responses/Error"}
    return out


def _paths() -> dict[str, Schema]:
    ok = "OK"
    return {
        "/api/v1/openapi.json": {
            "get": op(
                "This document", "meta", {"200": ("the OpenAPI document", {"type": "object"})}, public=True
            )
        },
        "/api/v1/auth/login": {
            "post": op(
                "Log in with e-mail and password: sets the session cookie and returns the CSRF token",
                "auth",
                {"200": ("logged in", ref("Me"))},
                body="LoginBody",
                public=True,
                errors=("401", "429"),
            )
        },
        "/api/v1/auth/logout": {
            "post": op(
                "End the browser session",
                "auth",
                {"204": ("logged out", None)},
                body={"type": "object", "maxProperties": 0},
                body_required=False,
                unsafe=True,
                errors=("403",),
            )
        },
        "/api/v1/me": {"get": op("Who am I", "auth", {"200": (ok, ref("Me"))})},
        "/api/v1/me/password": {
            "post": op(
                "Change my password: my other browser sessions and all my API tokens end (403 "
                "wrong_password when current_password is wrong; 429 after too many wrong ones, counted "
                "with failed log-ins)",
                "auth",
                {"204": ("changed", None)},
                body="PasswordChange",
                unsafe=True,
                errors=("403", "429"),
            )
        },
        "/api/v1/auth/tokens": {
            "get": op("My API tokens (never their values)", "auth", {"200": (ok, ref("ApiTokenList"))}),
            "post": op(
                "Create an API token for myself; its value is shown in this answer only",
                "auth",
                {"201": ("created", ref("NewApiToken"))},
                body="TokenBody",
                unsafe=True,
                errors=("403",),
            ),
        },
        "/api/v1/auth/tokens/{id}": {
            "delete": op(
                "Revoke one of my API tokens",
                "auth",
                {"204": ("revoked", None)},
                params=[PATH_ID],
                unsafe=True,
                errors=("403", "404"),
            )
        },
        "/api/v1/contacts": {
            "get": op(
                "List and search the client cards I may see (name, company, any identity), newest first",
                "contacts",
                {"200": (ok, ref("ContactList"))},
                params=query_params(api_contacts.ContactListQuery),
            )
        },
        "/api/v1/contacts/{id}/timeline": {
            "get": op(
                "A client's whole history across channels: messages, internal notes and calls, oldest "
                "first (of the conversations I may see)",
                "contacts",
                {"200": (ok, ref("Timeline"))},
                params=[PATH_ID, *query_params(api_timeline.TimelineQuery)],
                errors=("404",),
            )
        },
        "/api/v1/contacts/{id}": {
            "get": op(
                "A card with its identities and the conversations I may see",
                "contacts",
                {"200": (ok, ref("ContactDetail"))},
                params=[PATH_ID],
                errors=("404",),
            ),
            "patch": op(
                "Edit a card (only the fields given change)",
                "contacts",
                {"200": (ok, ref("Contact"))},
                params=[PATH_ID],
                body="ContactPatch",
                unsafe=True,
                errors=("403", "404", "422"),
            ),
        },
        "/api/v1/contacts/{id}/identities": {
            "post": op(
                "Add an identity (e-mail, phone …); a card that has it too becomes a duplicate candidate",
                "contacts",
                {"201": ("added", ref("Contact"))},
                params=[PATH_ID],
                body="IdentityBody",
                unsafe=True,
                errors=("403", "404", "422"),
            )
        },
        "/api/v1/contacts/duplicates": {
            "get": op(
                "Open duplicate candidates whose two cards I may both see",
                "contacts",
                {"200": (ok, ref("DuplicateList"))},
                params=query_params(api_contacts.DuplicatesQuery),
            )
        },
        "/api/v1/contacts/{id}/merge": {
            "post": op(
                "Merge card merge_id into this one (supervisor, admin)",
                "contacts",
                {"200": ("the surviving card", ref("Contact"))},
                params=[PATH_ID],
                body="MergeBody",
                unsafe=True,
                errors=("403", "404", "422"),
            )
        },
        "/api/v1/contacts/duplicates/{id}/dismiss": {
            "post": op(
                "Dismiss a duplicate candidate: two different people (supervisor, admin)",
                "contacts",
                {"204": ("dismissed", None)},
                params=[PATH_ID],
                body={"type": "object", "maxProperties": 0},
                body_required=False,
                unsafe=True,
                errors=("403", "404"),
            )
        },
        "/api/v1/conversations": {
            "get": op(
                "Conversations I may see, latest activity first",
                "conversations",
                {"200": (ok, ref("ConversationList"))},
                params=query_params(api_conversations.ConversationQuery),
            )
        },
        "/api/v1/conversations/{id}": {
            "get": op(
                "A conversation with its contact and messages",
                "conversations",
                {"200": (ok, ref("ConversationDetail"))},
                params=[PATH_ID],
                errors=("403", "404"),
            )
        },
        "/api/v1/conversations/{id}/assign": {
            "post": op(
                "Assign to an agent and/or team (a field left out keeps its value, null clears it)",
                "conversations",
                {"200": (ok, ref("Conversation"))},
                params=[PATH_ID],
                body="AssignBody",
                unsafe=True,
                errors=("403", "404", "422"),
            )
        },
        "/api/v1/conversations/{id}/status": {
            "post": op(
                "Change the status (snoozed needs snoozed_until)",
                "conversations",
                {"200": (ok, ref("Conversation"))},
                params=[PATH_ID],
                body="StatusBody",
                unsafe=True,
                errors=("403", "404", "422"),
            )
        },
        "/api/v1/conversations/{id}/replies": {
            "post": op(
                "Reply to the client: queued in the outbox and sent through the channel",
                "conversations",
                {"201": ("queued", ref("Message"))},
                params=[PATH_ID],
                body="ReplyBody",
                unsafe=True,
                errors=("403", "404", "422"),
            )
        },
        "/api/v1/conversations/{id}/notes": {
            "post": op(
                "Add an internal note (never sent)",
                "conversations",
                {"201": ("added", ref("Message"))},
                params=[PATH_ID],
                body="NoteBody",
                unsafe=True,
                errors=("403", "404", "422"),
            )
        },
        "/api/v1/agents": {
            "get": op("All agents with teams and presence", "admin", {"200": (ok, ref("AgentList"))}),
            "post": op(
                "Create an agent (admin)",
                "admin",
                {"201": ("created", ref("Agent"))},
                body="AgentCreate",
                unsafe=True,
                errors=("403", "422"),
            ),
        },
        "/api/v1/agents/{id}": {
            "patch": op(
                "Change an agent (admin)",
                "admin",
                {"200": (ok, ref("Agent"))},
                params=[PATH_ID],
                body="AgentPatch",
                unsafe=True,
                errors=("403", "404", "422"),
            )
        },
        "/api/v1/audit": {
            "get": op(
                "The audit log, newest first: log-in attempts and admin actions (admin)",
                "admin",
                {"200": (ok, ref("AuditList"))},
                params=query_params(api_audit.AuditQuery),
                errors=("403",),
            )
        },
        "/api/v1/quarantine": {
            "get": op(
                "What the channels received and could not take, newest first (admin)",
                "admin",
                {"200": (ok, ref("QuarantineList"))},
                params=query_params(api_quarantine.QuarantineQuery),
                errors=("403",),
            )
        },
        "/api/v1/quarantine/{id}/raw": {
            "get": {
                **op(
                    "A quarantined item's bytes as received, as a download (admin)",
                    "admin",
                    {"200": ("the raw bytes", None)},
                    params=[PATH_ID],
                    errors=("403", "404"),
                ),
            }
        },
        "/api/v1/quarantine/retry": {
            "post": op(
                "Retry items through today's parsers: one that parses is ingested and leaves (admin)",
                "admin",
                {"200": (ok, ref("RetryOutcomeList"))},
                body="RetryBody",
                unsafe=True,
                errors=("403", "422"),
            )
        },
        "/api/v1/teams": {
            "get": op("All teams", "admin", {"200": (ok, ref("TeamList"))}),
            "post": op(
                "Create a team (admin)",
                "admin",
                {"201": ("created", ref("Team"))},
                body="TeamCreate",
                unsafe=True,
                errors=("403", "422"),
            ),
        },
        "/api/v1/tasks": {
            "get": op(
                "Tasks I may see: mine, those about cards or conversations I see, my teams' (admins: all)",
                "tasks",
                {"200": (ok, ref("TaskList"))},
                params=query_params(api_tasks.TaskQuery),
            ),
            "post": op(
                "Create a task (mine, unless an assignee or team is given)",
                "tasks",
                {"201": ("created", ref("Task"))},
                body="TaskCreate",
                unsafe=True,
                errors=("403", "422"),
            ),
        },
        "/api/v1/tasks/{id}": {
            "patch": op(
                "Change a task; done or cancelled closes it",
                "tasks",
                {"200": (ok, ref("Task"))},
                params=[PATH_ID],
                body="TaskPatch",
                unsafe=True,
                errors=("403", "404", "422"),
            )
        },
        "/api/v1/channels": {
            "get": op(
                "Configured channel accounts and their state (no secrets)",
                "channels",
                {"200": (ok, ref("ChannelAccountList"))},
            )
        },
        "/api/v1/channels/{account}/messages": {
            "post": {
                **op(
                    "Hand in one message through a generic API channel account",
                    "channels",
                    {
                        "201": ("stored", ref("IngestResult")),
                        "200": ("already stored before (a redelivery): nothing changed", ref("IngestResult")),
                    },
                    params=[
                        param("account", "path", {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"})
                    ],
                    body="ApiChannelMessage",
                    errors=("401", "403", "404", "422"),
                    public=True,
                ),
                "security": [{"channelToken": []}],
            }
        },
        "/api/v1/ws": {
            "get": op(
                "The agent WebSocket: events of the conversations I may see, as "
                '{"type", "conversation_id", "data"} frames',
                "events",
                {"101": ("switching to the WebSocket protocol", None)},
                params=[
                    param(
                        "token",
                        "query",
                        STR,
                        "an API token, for old clients that cannot set headers (prefer the header, or a "
                        'first frame {"type": "auth", "token": ...}); masked in the access log',
                    )
                ],
            )
        },
    }


@functools.cache
def document() -> Schema:
    schemas = dict(SCHEMAS)
    for name, model in BODIES.items():
        schema = body_schema(model)
        for nested, nested_schema in schema.pop("$defs", {}).items():  # models inside a body (FileIn)
            schemas.setdefault(nested, nested_schema)
        schemas[name] = schema
    responses = {
        name: {"description": description, "content": json_content(ref("Error"))}
        for name, description in ERRORS.values()
    }
    responses["Error"] = {"description": "an error", "content": json_content(ref("Error"))}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Okno API",
            "version": "1",
            "description": (
                "The REST API of Okno, an omnichannel communications hub. Authenticate with a bearer "
                "token (POST /api/v1/auth/tokens) or the browser session cookie; cookie-authenticated "
                "changes need the X-CSRF-Token header. A card, duplicate pair or task the caller may not see "
                "is a 404, as if it did not exist (a conversation of another queue: 403). Every error is "
                '{"error": {"code", "message", "field"}}.'
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "paths": _paths(),
        "components": {
            "schemas": schemas,
            "responses": responses,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "description": "an agent's API token"},
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "okno_session"},
                "channelToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the channel account's own token (from configuration)",
                },
            },
        },
    }


@routes.get("/api/v1/openapi.json")
async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())
