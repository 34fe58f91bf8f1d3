"""The generic API channel: any system that can POST JSON can feed Okno, and receive the replies.

Inbound: ``POST /api/v1/channels/{account}/messages`` with the account's token (served by the hub);
the body is parsed here by :func:`parse`. Outbound: each reply is POSTed as JSON to the account's
``callback_url`` with an ``Idempotency-Key`` header that stays the same across retries.
"""

from channels.api.connector import ApiConnector
from channels.api.parse import parse, parse_file

__all__ = ["ApiConnector", "parse", "parse_file"]
