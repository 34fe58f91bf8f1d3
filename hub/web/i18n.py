"""Russian and English strings of the web pages, and choosing the language for a request.

The order of preference: ``?lang=`` (a switch on the page), the agent's own setting, the browser's
Accept-Language, then Russian.
"""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("ru", "en")
DEFAULT: Final = "ru"

STRINGS: Final[dict[str, dict[str, str]]] = {
    "ru": {
        "app_name": "Окно",
        "tagline": "Все каналы связи с клиентами в одном окне",
        "login_title": "Вход",
        "email": "Эл. почта",
        "password": "Пароль",
        "sign_in": "Войти",
        "sign_out": "Выйти",
        "wrong_credentials": "Неверная почта или пароль.",
        "form_expired": "Форма устарела. Попробуйте ещё раз.",
        "missing_fields": "Введите почту и пароль.",
        "inbox_title": "Входящие",
        "open_conversations": "Открытые диалоги",
        "no_conversations": "Открытых диалогов нет.",
        "contact": "Клиент",
        "channel": "Канал",
        "subject": "Тема",
        "assignee": "Исполнитель",
        "last_message": "Последнее сообщение",
        "unassigned": "не назначен",
        "you": "вы",
        "no_name": "без имени",
        "role_agent": "оператор",
        "role_supervisor": "супервайзер",
        "role_admin": "администратор",
        "full_ui_soon": "Полный интерфейс оператора появится в следующей версии; API уже доступен.",
        "api_docs": "Описание API (OpenAPI)",
        "language": "Язык",
    },
    "en": {
        "app_name": "Okno",
        "tagline": "Every customer channel in one window",
        "login_title": "Sign in",
        "email": "E-mail",
        "password": "Password",
        "sign_in": "Sign in",
        "sign_out": "Sign out",
        "wrong_credentials": "Wrong e-mail or password.",
        "form_expired": "The form has expired. Please try again.",
        "missing_fields": "Enter your e-mail and password.",
        "inbox_title": "Inbox",
        "open_conversations": "Open conversations",
        "no_conversations": "No open conversations.",
        "contact": "Contact",
        "channel": "Channel",
        "subject": "Subject",
        "assignee": "Assignee",
        "last_message": "Last message",
        "unassigned": "unassigned",
        "you": "you",
        "no_name": "no name",
        "role_agent": "agent",
        "role_supervisor": "supervisor",
        "role_admin": "administrator",
        "full_ui_soon": "The full agent interface comes in the next version; the API is ready now.",
        "api_docs": "API description (OpenAPI)",
        "language": "Language",
    },
}


def _accepted(header: str) -> list[tuple[float, int, str]]:
    ranked = []
    for position, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary and quality > 0:
            ranked.append((-quality, position, primary))
    return sorted(ranked)


def choose(accept_language: str | None, *, explicit: str | None = None, preferred: str | None = None) -> str:
    """The page language: `explicit` (?lang=), the agent's `preferred`, then Accept-Language, then Russian."""
    for wanted in (explicit, preferred):
        if wanted is not None and wanted in LANGUAGES:
            return wanted
    for _, _, primary in _accepted(accept_language or ""):
        if primary in LANGUAGES:
            return primary
    return DEFAULT
