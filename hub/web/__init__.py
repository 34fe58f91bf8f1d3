"""The hub's web layer: the REST API under /api/v1, the agent WebSocket, and the server-rendered pages.

Nothing else imports it except the CLI, which serves ``create_app(hub)``.
"""

from hub.web.app import create_app

__all__ = ["create_app"]
