"""Template bodies: sandbox escapes and broken bodies are refused at save with the reason; missing
variables render as empty text."""

from __future__ import annotations

import pytest

from inbox.knowledge.render import SAMPLE, TemplateBodyError, check, render

ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ contact['__class__'] }}",
    "{{ contact|attr('__class__') }}",
    "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ contact.name.upper.__globals__ }}",
    "{{ _private }}",
]


@pytest.mark.parametrize("body", ESCAPES)
def test_a_sandbox_escape_is_refused_at_save(body: str) -> None:
    with pytest.raises(TemplateBodyError, match="not allowed"):
        check(body)


def test_a_body_that_does_not_parse_is_refused_with_the_parser_s_reason() -> None:
    with pytest.raises(TemplateBodyError, match="not a valid template: unexpected '}'"):
        check("Hello {{ contact.name }")


def test_a_body_that_fails_on_the_sample_data_is_refused() -> None:
    with pytest.raises(TemplateBodyError, match="does not render with sample data: TypeError"):
        check("{{ contact.name|int + 'a' }}")


def test_a_missing_variable_renders_as_empty_text() -> None:
    body = "Hi {{ contact.first_name }}{{ contact.nickname.upper() }}, {{ company.name }}: {{ order.id }}!"
    check(body)
    assert render(body, {"contact": {"first_name": "Anna"}}) == "Hi Anna, : !"


def test_the_variables_render() -> None:
    body = "{{ contact.first_name }} / {{ agent.name }} / {{ conversation.id }} / {{ company.phone }}"
    assert render(body, SAMPLE) == "Анна / Иван Смирнов / 1 / +7 495 000-00-00"


def test_only_the_four_variables_are_in_reach() -> None:
    assert render("{{ range }}{{ cycler }}{{ lipsum }}{{ namespace }}", {}) == ""
