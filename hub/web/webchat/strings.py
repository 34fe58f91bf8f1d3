"""The web-chat widget's words, from the same gettext catalogs as the pages (context ``widget``).

``GET /webchat/{account}/config`` sends them in the visitor's language, so widget.js carries no strings of
its own and a translator edits one set of ``.po`` files. Keys are the names widget.js reads.
"""

from __future__ import annotations

from typing import Final

from hub.i18n import NP_, Texts

WIDGET: Final = {
    "open": NP_("widget", "Open chat"),
    "close": NP_("widget", "Minimize chat"),
    "placeholder": NP_("widget", "Write a message…"),
    "send": NP_("widget", "Send"),
    "answers": NP_("widget", "You are talking to "),
    "usually": NP_("widget", "We usually answer within a few minutes"),
    "typing": NP_("widget", " is typing…"),
    "agent": NP_("widget", "Agent"),
    "connecting": NP_("widget", "Connecting…"),
    "pending": NP_("widget", "sending"),
    "sent": NP_("widget", "sent"),
    "failed": NP_("widget", "not sent"),
    "offline": NP_("widget", "We are away right now"),
    "offlineHint": NP_("widget", "Leave a message and we will answer by e-mail."),
    "name": NP_("widget", "Name"),
    "email": NP_("widget", "E-mail"),
    "phone": NP_("widget", "Phone"),
    "message": NP_("widget", "Message"),
    "leave": NP_("widget", "Send"),
    "thanks": NP_("widget", "Thank you! We will answer by e-mail."),
    "start": NP_("widget", "Start chat"),
    "prechat": NP_("widget", "Introduce yourself so we can answer even if you close the page."),
    "needContact": NP_("widget", "Give an e-mail or a phone."),
    "needEmail": NP_("widget", "Give an e-mail."),
    "error": NP_("widget", "That did not work. Please try again."),
    "tooLong": NP_("widget", "The message is too long."),
    "powered": NP_("widget", "Okno"),
    # capabilities: the attach button and why a file was not sent
    "attach": NP_("widget", "Attach a file"),
    "tooBig": NP_("widget", "The file is too large"),
    "badFile": NP_("widget", "This file cannot be sent"),
}
DEFAULT_TITLE: Final = NP_("widget", "Chat with us")
DEFAULT_GREETING: Final = NP_("widget", "Hello! Write to us and we will answer right here.")
OFFLINE_SUBJECT: Final = NP_("widget", "Message from the website form")
# An account whose offline form no e-mail account answers (no `reply_by_email`): the answer comes in the
# chat, and the form must not promise an e-mail.
IN_CHAT: Final = {
    "offlineHint": NP_("widget", "Leave a message: we will answer here, in this chat, when you come back."),
    "thanks": NP_("widget", "Thank you! We will answer here, in this chat."),
}


def widget_strings(texts: Texts, *, answers_by_email: bool = True) -> dict[str, str]:
    """The widget's words; `answers_by_email`: an e-mail account answers the offline form."""
    words = {key: texts.msg(message) for key, message in WIDGET.items()}
    if not answers_by_email:
        words.update({key: texts.msg(message) for key, message in IN_CHAT.items()})
    return words
