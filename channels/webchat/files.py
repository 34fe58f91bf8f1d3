"""A file a visitor sends through the widget, checked by what it is, not by what it is called.

Only images the widget and the inbox can show (JPEG, PNG, GIF, WebP) and common documents (PDF, the
Office and OpenDocument formats, plain UTF-8 text) are taken. The type is read from the bytes (the
``filetype`` library's magic numbers); the visitor's file name and declared type are never trusted: a
script named ``photo.jpg`` is refused, and a PDF named ``photo.jpg`` is stored as ``application/pdf``.
"""

from __future__ import annotations

import filetype

from channels.base import PayloadError
from inbox.items import InboundAttachment

MAX_VISITOR_FILE = 10 * 2**20  # per file, unless the account's max_file_bytes says otherwise
IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
DOCUMENTS = frozenset(
    {
        "application/pdf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)
ACCEPTED = IMAGES | DOCUMENTS | {"text/plain"}


def content_type_of(data: bytes) -> str | None:
    """The type the bytes say they are, if it is one the widget takes; ``None`` for anything else."""
    kind = filetype.guess(data)
    if kind is not None:
        mime = str(kind.mime)
        return mime if mime in ACCEPTED else None
    # Plain text has no magic number: UTF-8 without control characters other than layout ones.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        return None
    return "text/plain"


def visitor_file(data: bytes, filename: str, *, max_bytes: int = MAX_VISITOR_FILE) -> InboundAttachment:
    """The file as an attachment to store, or :class:`PayloadError` naming ``file`` with the reason."""
    if not data:
        raise PayloadError("the file is empty", "file")
    if len(data) > max_bytes:
        raise PayloadError(f"the file is larger than {max_bytes} bytes", "file")
    content_type = content_type_of(data)
    if content_type is None:
        raise PayloadError("only images (JPEG, PNG, GIF, WebP) and documents (PDF, Office, text)", "file")
    return InboundAttachment(
        filename=_name(filename), content_type=content_type, size=len(data), content=data
    )


def _name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(c for c in base if c.isprintable()).strip().lstrip(".")
    return cleaned[:200] or "file"
