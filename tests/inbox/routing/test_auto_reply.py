"""A routing rule's auto-reply: the rendered template goes to the outbox once per dialog as an automatic
answer (no first response, no ended wait); a channel that cannot carry it, or a template gone since the
rules were saved, leaves a note instead of an exception; an unknown key is refused when rules are saved."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.business_hours import BusinessHours
from inbox.capabilities import Capabilities
from inbox.knowledge.templates import TemplateInput, create_template
from inbox.models import AuditLog, Conversation, Message, Outbox, ReportingEvent, ReportWait, Template, utcnow
from inbox.outbox import _build
from inbox.routing.auto_reply import AutoReplies
from inbox.routing.rules import RuleError, apply_rules, parse_rules, store_rules
from tests.inbox.routing.setup import dialogs, team_with_agents

BODY = (
    "Здравствуйте{% if contact.first_name %}, {{ contact.first_name }}{% endif %}!"
    " Мы на связи {{ company.hours }}."
)


async def night_rule(session: AsyncSession, key: str = "night") -> None:
    await create_template(session, TemplateInput(key=key, title="Ночь", body=BODY), actor=None)
    await store_rules(
        session,
        parse_rules([{"name": "night", "team": "Support", "auto_reply": key, "when": {"channel": ["api"]}}]),
        actor_id=None,
    )
    await session.commit()


async def messages_of(session: AsyncSession, conv_id: int, direction: str) -> list[Message]:
    query = select(Message).where(Message.conversation_id == conv_id, Message.direction == direction)
    return list(await session.scalars(query.order_by(Message.id)))


async def test_a_rules_auto_reply_goes_to_the_outbox_once_rendered_and_is_no_first_response(
    session: AsyncSession,
) -> None:
    _, _, account = await team_with_agents(session, 1)
    await night_rule(session)
    (conv_id,) = await dialogs(session, account, 0, 1)
    replies = AutoReplies({"hours": "пн–пт 9:00–18:00"})
    events = await apply_rules(session, utcnow(), BusinessHours.always(), auto_replies=replies)
    await session.commit()
    (sent,) = await messages_of(session, conv_id, "out")
    assert (sent.kind, sent.agent_id, sent.delivery_status) == ("auto_reply", None, "queued")
    assert sent.body_text == "Здравствуйте, Иван! Мы на связи пн–пт 9:00–18:00."
    outbox = await session.scalar(select(Outbox).where(Outbox.message_id == sent.id))
    assert outbox is not None and outbox.account_id == account.id
    session.expunge_all()  # read back as the outbox worker does, from the database
    out, _, _ = await _build(session, outbox.id)  # what the connector is handed: marked as automatic
    assert out.automatic and out.text == sent.body_text
    assert any(e.type == "message.created" and e.data["auto_reply"] for e in events)
    conv = await session.get_one(Conversation, conv_id, populate_existing=True)
    assert (conv.first_response_at, conv.assignee_id) == (None, None)
    first_response = select(ReportingEvent.id).where(ReportingEvent.name == "first_response")
    assert await session.scalar(first_response) is None
    waits = await session.scalars(select(ReportWait).where(ReportWait.conversation_id == conv_id))
    assert {(w.kind, w.outcome) for w in waits} == {
        ("first_response", None),
        ("reply", None),
        ("resolution", None),
    }
    # The rules look at a dialog once: another pass (or a later message) sends nothing more.
    await apply_rules(session, utcnow(), BusinessHours.always(), auto_replies=replies)
    await session.commit()
    assert len(await messages_of(session, conv_id, "out")) == 1


async def test_a_channel_that_cannot_carry_text_gets_a_note_instead_of_the_auto_reply(
    session: AsyncSession,
) -> None:
    team, _, account = await team_with_agents(session, 1)
    await night_rule(session)
    (conv_id,) = await dialogs(session, account, 0, 1)
    mute = AutoReplies(capabilities=lambda _: Capabilities(text=False))
    await apply_rules(session, utcnow(), BusinessHours.always(), auto_replies=mute)
    await session.commit()
    assert await messages_of(session, conv_id, "out") == []
    (note,) = await messages_of(session, conv_id, "note")
    assert note.kind == "rule_note" and note.meta["skipped"] == "cannot_send"
    assert await session.scalar(select(func.count()).select_from(Outbox)) == 0
    audit = await session.scalar(select(AuditLog).where(AuditLog.action == "routing.auto_reply_skipped"))
    assert audit is not None and audit.entity_id == conv_id
    conv = await session.get_one(Conversation, conv_id, populate_existing=True)
    assert conv.team_id == team.id and conv.rules_applied_at is not None  # the rule still applied


async def test_a_template_deleted_after_the_rules_were_saved_leaves_a_note(session: AsyncSession) -> None:
    _, _, account = await team_with_agents(session, 1)
    await night_rule(session)
    template = await session.scalar(select(Template).where(Template.key == "night"))
    await session.delete(template)
    await session.commit()
    (conv_id,) = await dialogs(session, account, 0, 1)
    await apply_rules(session, utcnow(), BusinessHours.always())
    await session.commit()
    (note,) = await messages_of(session, conv_id, "note")
    assert note.meta == {"rule": "night", "template": "night", "skipped": "no_template"}


async def test_an_unknown_template_key_is_refused_when_the_rules_are_saved(session: AsyncSession) -> None:
    await team_with_agents(session, 1)
    await create_template(session, TemplateInput(key="mine", title="Моё", body="x"), actor=None)
    rules = parse_rules(
        [
            {"name": "ok", "team": "Support", "auto_reply": "mine"},
            {"name": "typo", "team": "Support", "auto_reply": "ru.out-of-hour"},
        ]
    )
    with pytest.raises(RuleError) as caught:
        await store_rules(session, rules, actor_id=None)
    assert caught.value.field == "rules[1].auto_reply" and "ru.out-of-hour" in str(caught.value)
    with pytest.raises(RuleError) as bad_key:
        parse_rules([{"name": "x", "auto_reply": "Not A Key!"}])
    assert bad_key.value.field == "rules[0].auto_reply"
