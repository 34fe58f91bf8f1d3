"""Template bodies: checked when saved, rendered in a Jinja2 sandbox when used.

A body may use four variables — `contact`, `agent`, `conversation`, `company` — each a plain dict. A
variable or field that is missing renders as empty text (never an exception at send time). What is
refused, when the template is saved, with the reason:
- syntax errors;
- any reach for Python internals: an attribute or key starting with "_" (``''.__class__``,
  ``cycler.__init__.__globals__``), the ``attr`` filter (which takes an attribute name as a string), and
  anything the sandbox itself calls unsafe while rendering the sample data;
- a body that fails to render against :data:`SAMPLE` (e.g. a filter given the wrong type).
The sandbox is the second line of defence: the checks above refuse an escape before it is ever stored.
"""

from __future__ import annotations

from typing import Any, NoReturn

from jinja2 import ChainableUndefined, TemplateError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

VARIABLES = ("contact", "agent", "conversation", "company")
MAX_BODY = 20_000

SAMPLE: dict[str, dict[str, Any]] = {
    "contact": {
        "id": 1,
        "name": "Анна Петрова",
        "first_name": "Анна",
        "company": "ООО Ромашка",
        "email": "anna@example.com",
        "phone": "+79001234567",
    },
    "agent": {"id": 1, "name": "Иван Смирнов", "first_name": "Иван", "email": "ivan@example.com"},
    "conversation": {"id": 1, "subject": "Заказ 1042", "channel": "email", "status": "open"},
    "company": {
        "name": "Okno",
        "phone": "+7 495 000-00-00",
        "email": "support@example.com",
        "website": "https://example.com",
        "hours": "пн–пт 9:00–18:00",
    },
}


class TemplateBodyError(ValueError):
    """A body that may not be saved; the message says why, for the person who wrote it."""


class QuietUndefined(ChainableUndefined):
    """Missing things render as "", chained lookups too; an access the sandbox calls unsafe raises."""

    __slots__ = ()

    def _unsafe(self) -> bool:
        return self._undefined_exception is SecurityError

    def __str__(self) -> str:
        if self._unsafe():
            self._fail_with_undefined_error()
        return ""

    def __getattr__(self, name: str) -> Any:
        if name[:2] != "__" and self._unsafe():
            self._fail_with_undefined_error()
        return super().__getattr__(name)

    def __getitem__(self, name: Any) -> Any:
        if self._unsafe():
            self._fail_with_undefined_error()
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # `contact.name.upper()` with no name: ""
        if self._unsafe():
            self._fail_with_undefined_error()
        return self


def _environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(undefined=QuietUndefined, autoescape=False, keep_trailing_newline=False)
    # Only our four variables: no cycler, joiner, namespace, lipsum or range to reach through.
    env.globals.clear()
    env.filters.pop("attr", None)
    return env


ENVIRONMENT = _environment()


def _refuse(message: str) -> NoReturn:
    raise TemplateBodyError(message)


def _check_tree(tree: nodes.Template) -> None:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter, nodes.Name)):
        if isinstance(node, nodes.Getattr) and node.attr.startswith("_"):
            _refuse(f"access to {node.attr!r} is not allowed in a template (line {node.lineno})")
        if isinstance(node, nodes.Getitem):
            key = node.arg
            if isinstance(key, nodes.Const) and isinstance(key.value, str) and key.value.startswith("_"):
                _refuse(f"access to {key.value!r} is not allowed in a template (line {node.lineno})")
        if isinstance(node, nodes.Filter) and node.name == "attr":
            _refuse(f"the 'attr' filter is not allowed in a template (line {node.lineno})")
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name.startswith("_"):
            _refuse(f"the name {node.name!r} is not allowed in a template (line {node.lineno})")


def check(body: str) -> None:
    """Refuse a body that cannot be saved (see the module docstring); return if it is fine."""
    if len(body) > MAX_BODY:
        _refuse(f"the body is longer than {MAX_BODY} characters")
    try:
        tree = ENVIRONMENT.parse(body)
    except TemplateError as exc:
        _refuse(f"not a valid template: {exc.message or exc}")
    _check_tree(tree)
    try:
        ENVIRONMENT.from_string(body).render(SAMPLE)
    except SecurityError as exc:
        _refuse(f"not allowed in a template: {exc}")
    except Exception as exc:  # any failure a filter or test can raise on the sample data
        _refuse(f"does not render with sample data: {type(exc).__name__}: {exc}")


def render(body: str, variables: dict[str, dict[str, Any]]) -> str:
    """The text of a (checked) body for these variables; missing ones render as empty.

    A body stored before a check existed, or written straight into the database, may still fail: that
    is reported as :class:`TemplateBodyError`, never as a crash of the caller.
    """
    context = {name: variables.get(name, {}) for name in VARIABLES}
    try:
        return ENVIRONMENT.from_string(body).render(context).strip()
    except Exception as exc:
        raise TemplateBodyError(f"the template does not render: {type(exc).__name__}: {exc}") from exc
