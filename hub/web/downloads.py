"""A stored file as an HTTP answer, for agents (hub/web/api/attachments.py) and visitors
(hub/web/webchat/files.py) alike: images shown, everything else downloaded, nothing sniffed or run."""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

INLINE = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def file_response(data: bytes, filename: str, content_type: str) -> web.Response:
    """A stored file as a response that a browser shows (an image) or downloads (anything else)."""
    inline = content_type in INLINE
    disposition = "inline" if inline else "attachment"
    return web.Response(
        body=data,
        content_type=content_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
