"""The Telegram channel: one bot per account, over the Bot API with a small client of our own.

* :mod:`channels.telegram.parse` turns updates (plain JSON) into inbound items, or a one-line reason;
* :mod:`channels.telegram.client` makes the Bot API calls (plain JSON) over one aiohttp session;
* :mod:`channels.telegram.connector` receives by long polling or webhook and sends replies;
* :func:`parse_file` serves ``okno ingest telegram FILE.json`` (an Update, an array of them, or a whole
  getUpdates answer).
"""

from channels.telegram.connector import TelegramConnector, read_settings
from channels.telegram.parse import Ignored, parse_file, parse_update

__all__ = ["Ignored", "TelegramConnector", "parse_file", "parse_update", "read_settings"]
