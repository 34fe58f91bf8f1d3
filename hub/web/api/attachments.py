"""``GET /api/v1/attachments/{id}``: a message's file, for an agent who may see its conversation.

403 for a conversation in a queue the caller cannot see (as everywhere), 404 for no such file or one that
was never stored (its refusal reason in the message), 410 when the blob store lost it. Images are served
as themselves; everything else as a download, never sniffed, never run in the hub's origin.
"""

from __future__ import annotations

from aiohttp import web

from hub.web.api.operations import operation
from hub.web.api.schemas.files import FileBytes
from hub.web.auth import require_agent
from hub.web.context import db, hub_of
from hub.web.downloads import file_response
from hub.web.errors import ApiError, not_found
from hub.web.inputs import path_id
from inbox.blobs import BlobStore
from inbox.conversations import get_visible_conversation
from inbox.models import Attachment, Message

routes = web.RouteTableDef()


@routes.get(r"/api/v1/attachments/{id:\d+}")
@operation(
    "A message's file (an image shown, anything else downloaded) in a conversation you see",
    "conversations",
    {200: ("the file's bytes", FileBytes)},
    errors=(403, 404, 410),
    files=("application/octet-stream", "image/*"),
)
async def download(request: web.Request) -> web.Response:
    attachment_id = path_id(request)
    async with db(request) as session:
        principal = await require_agent(request, session)
        row = await session.get(Attachment, attachment_id)
        if row is None:
            raise not_found(f"attachment {attachment_id} not found")
        message = await session.get_one(Message, row.message_id)
        await get_visible_conversation(session, principal.viewer, message.conversation_id)
        name, content_type, sha256, refused = row.filename, row.content_type, row.sha256, row.refused
    root = hub_of(request).policy.attachments_dir
    if sha256 is None or root is None:
        raise not_found(f"attachment {attachment_id} was not stored" + (f": {refused}" if refused else ""))
    try:
        data = await BlobStore(root).get(sha256)
    except FileNotFoundError:
        raise ApiError(410, "gone", f"attachment {attachment_id} is no longer kept") from None
    return file_response(data, name, content_type)
