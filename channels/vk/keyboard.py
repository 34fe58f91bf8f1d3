"""A reply's buttons as VK's inline keyboard, built with vk-api's ``VkKeyboard``.

Only the builder of the ``vk-api`` package is used (the JSON VK expects for ``messages.send``'s
``keyboard``, with its limits on buttons per line and lines checked for us); its HTTP session is not: our
own client (:mod:`channels.vk.client`) makes every call. ``import vk_api`` pulls in ``requests`` and the
rest of the package, a blocking import of tens of milliseconds, so it is done once in a worker thread
rather than on the event loop that serves every other channel.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Sequence
from types import ModuleType

BUTTONS_PER_LINE = 2
MAX_BUTTONS = 10  # 5 lines of 2: within an inline keyboard's 6 lines
MAX_LABEL = 40  # VK cuts a longer label

_module: ModuleType | None = None


async def _keyboard_module() -> ModuleType:
    global _module
    if _module is None:
        _module = await asyncio.to_thread(importlib.import_module, "vk_api.keyboard")
    return _module


async def inline_keyboard(labels: Sequence[str]) -> str:
    """The ``keyboard`` parameter for `labels`: an inline keyboard of text buttons, two per line; pressing
    one sends its label back as the client's message."""
    if len(labels) > MAX_BUTTONS:
        raise ValueError(f"VK shows at most {MAX_BUTTONS} buttons under a message")
    module = await _keyboard_module()
    keyboard = module.VkKeyboard(inline=True)
    for index, label in enumerate(labels):
        if index and index % BUTTONS_PER_LINE == 0:
            keyboard.add_line()
        keyboard.add_button(label[:MAX_LABEL], color=module.VkKeyboardColor.SECONDARY)
    return str(keyboard.get_keyboard())
