"""Files in the web chat: a visitor sends images and documents, and fetches the files of their own dialogs.

* ``POST /webchat/{account}/files`` — multipart: ``token`` (the visitor's, from the socket's hello), ``id``
  (the widget's message id: a resend is a duplicate, never a second message), ``text`` (optional caption)
  and ``file``. The file is read up to the account's ``max_file_bytes`` (413 beyond, without reading the
  rest), typed by its content (:mod:`channels.webchat.files`: 415 naming ``file`` for anything but images
  and documents), and becomes the visitor's message through the one ingest path, which keeps the bytes
  in the blob store. Counted against ``messages_per_minute`` and ``files_per_minute`` (429 with
  Retry-After). 201 with the message as the widget shows it (200 for a resend).
* ``GET /webchat/{account}/files/{id}?token=…`` — one file of a message the visitor may see (their own, or
  a reply released to them, in a conversation they started); 404 for any other, so a visitor learns
  nothing of files that are not theirs. Images are served as themselves, everything else as a download;
  never sniffed, never run (``nosniff``, a sandboxing CSP).

The token travels in the form body and in the download's query (an ``<img>`` or a link cannot send
headers); the access log masks ``token`` query values.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from sqlalchemy.orm import selectinload

from channels.base import PayloadError
from channels.webchat import WidgetOptions, visitor_message
from channels.webchat.files import visitor_file
from channels.webchat.parse import MAX_URL, client_id, message_text
from channels.webchat.tokens import current
from hub.runtime import ConfiguredAccount
from hub.web.context import db, hub_of
from hub.web.downloads import file_response
from hub.web.errors import ApiError, bad_request, not_found, unauthorized
from hub.web.webchat import history
from hub.web.webchat.keys import KEYS
from hub.web.webchat.limits import LIMITS
from hub.web.webchat.routes import (
    ACCOUNT,
    account_of,
    announce,
    check_origin,
    preflight,
    widget_post,
    within_limit,
)
from inbox import visitor_history
from inbox.blobs import BlobStore
from inbox.models import Message

routes = web.RouteTableDef()

MAX_FIELD = 8 * 1024  # token, id, caption: small text fields


@routes.options(f"/webchat/{ACCOUNT}/files")
async def upload_preflight(request: web.Request) -> web.Response:
    return preflight(request)  # multipart form data: a "simple" request, no extra headers


@routes.post(f"/webchat/{ACCOUNT}/files")
async def upload(request: web.Request) -> web.Response:
    return await widget_post(request, _upload)


async def _visitor(
    request: web.Request, configured: ConfiguredAccount, options: WidgetOptions, token: object
) -> str:
    key = await request.app[KEYS].key(configured)
    now = request.app[LIMITS].wall()
    found = current(key, configured.context.id, token, now=now, lifetime=options.token_lifetime)
    if found is None:
        raise unauthorized("no valid visitor token: open the chat first")
    return found[0]


async def _upload(
    request: web.Request, configured: ConfiguredAccount, options: WidgetOptions
) -> web.Response:
    if options.max_file_bytes == 0 or hub_of(request).policy.attachments_dir is None:
        raise ApiError(403, "forbidden", "this chat takes no files", "file")
    if not request.content_type.startswith("multipart/"):
        raise ApiError(415, "unsupported_media_type", "send multipart/form-data with token, id and file")
    fields: dict[str, str] = {}
    data: bytes | None = None
    filename = "file"
    reader = await request.multipart()
    # The parts are read as they stream in (the app-wide body limit does not apply to a multipart read),
    # each one bounded here: a file past max_file_bytes is refused without reading the rest.
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or part.name is None:
            raise bad_request("unexpected nested multipart")
        if part.name == "file":
            data = await _read(part, options.max_file_bytes, "file")
            # Browsers percent-encode '"' and line breaks in a multipart file name (and some clients
            # everything past ASCII): decoded, it is the name the visitor sees.
            filename = unquote(part.filename or "file")
        elif part.name in ("token", "id", "text", "page"):
            fields[part.name] = (await _read(part, MAX_FIELD, part.name)).decode("utf-8", "replace")
        else:
            raise bad_request(f"unknown field {part.name!r} (token, id, text, page, file)", part.name)
    visitor_id = await _visitor(request, configured, options, fields.get("token"))
    if data is None:
        raise bad_request("no file", "file")
    cid = client_id(fields.get("id"))
    try:
        attachment = visitor_file(data, filename, max_bytes=options.max_file_bytes)
    except PayloadError as exc:
        status, code = (
            (413, "payload_too_large") if "larger" in exc.reason else (415, "unsupported_media_type")
        )
        raise ApiError(status, code, exc.reason, exc.field) from None
    caption = fields.get("text") or ""
    text = message_text(caption, options.max_message_chars) if caption.strip() else attachment.filename
    limits = request.app[LIMITS]
    account_id = configured.context.id
    within_limit(await limits.file(account_id, visitor_id, options.files_per_minute), "too many files")
    within_limit(
        await limits.message(account_id, visitor_id, options.messages_per_minute), "too many messages"
    )
    item = visitor_message(
        account_id=account_id,
        visitor_id=visitor_id,
        client_message_id=cid,
        text=text,
        page=fields["page"][:MAX_URL] if fields.get("page") else None,
    )
    item = replace(item, attachments=(attachment,))
    # The ingest path writes the bytes to the blob store before it opens its transaction.
    result = await hub_of(request).ingest.submit(item)
    if not result.duplicate:
        await announce(request, account_id, visitor_id, result.conversation_id)
    async with db(request) as session:
        stored = await session.get_one(
            Message, result.message_id, options=[selectinload(Message.attachments)]
        )
        shown = await history.widget_messages(session, [stored], visitor_id)
    return web.json_response({"message": shown[0]}, status=200 if result.duplicate else 201)


async def _read(part: BodyPartReader, limit: int, name: str) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while chunk := await part.read_chunk(65536):
        total += len(chunk)
        if total > limit:
            raise ApiError(413, "payload_too_large", f"larger than {limit} bytes", name)
        chunks.append(chunk)
    return b"".join(chunks)


@routes.get(f"/webchat/{ACCOUNT}/files/{{id:\\d{{1,18}}}}")
async def download(request: web.Request) -> web.StreamResponse:
    configured, options = account_of(request)
    check_origin(request, options, "this site may not use this widget")
    visitor_id = await _visitor(request, configured, options, request.query.get("token"))
    async with db(request) as session:
        found = await visitor_history.visitor_file(
            session, configured.context.id, visitor_id, int(request.match_info["id"])
        )
        if found is None:
            raise not_found("no such file in your conversations")
        name, content_type, sha256 = found.filename, found.content_type, found.sha256
    root = hub_of(request).policy.attachments_dir
    if root is None or sha256 is None:
        raise not_found("no such file in your conversations")
    try:
        data = await BlobStore(root).get(sha256)
    except FileNotFoundError:  # the store lost it: say so rather than serve nothing
        raise ApiError(410, "gone", "the file is no longer kept") from None
    response = file_response(data, name, content_type)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Resource-Policy"] = (
        "cross-origin"  # shown in the widget on the client's site
    )
    return response
