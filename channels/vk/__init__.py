"""The VK channel: one community per account, over Bots Long Poll or the Callback API.

* :mod:`channels.vk.parse` turns events (plain JSON) into inbound items, or a one-line reason;
* :mod:`channels.vk.client` is our own small asynchronous VK API client (not the blocking ``vk-api``);
* :mod:`channels.vk.connector` receives, resolves names (users.get, cached) and sends replies;
* :func:`parse_file` serves ``okno ingest vk FILE.json`` (a Callback API body, a long-poll answer, or an array
  of events).
"""

from channels.vk.connector import VkConnector, read_settings
from channels.vk.parse import Ignored, parse_event, parse_file

__all__ = ["Ignored", "VkConnector", "parse_event", "parse_file", "read_settings"]
