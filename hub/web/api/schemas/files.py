"""A file's bytes as an answer (GET /api/v1/attachments/{id}): served as the file itself, not as JSON."""

from __future__ import annotations

from pydantic import RootModel


class FileBytes(RootModel[bytes]):
    """The file's bytes: an image shown as itself, anything else as a download."""
