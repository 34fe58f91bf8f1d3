"""The web-chat channel: a widget any site embeds with one script tag, talking to the hub over a
WebSocket (served by hub/web/webchat/socket.py).

Inbound: each visitor message becomes an InboundMessage with the identity ("webchat", visitor id),
plus the e-mail or phone a pre-chat or offline form asked for; its external id carries the widget's own
message id, so a resend is a duplicate. Outbound: see :mod:`channels.webchat.connector`.
"""

from channels.webchat.config import WidgetOptions, widget_options
from channels.webchat.connector import WebchatConnector
from channels.webchat.parse import Profile, parse_file, profile, visitor_message

__all__ = [
    "Profile",
    "WebchatConnector",
    "WidgetOptions",
    "parse_file",
    "profile",
    "visitor_message",
    "widget_options",
]
