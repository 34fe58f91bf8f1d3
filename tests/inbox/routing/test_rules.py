"""Routing rules: ordered conditions send a new dialog to a team (first match wins), and a bad rule is
refused with its index and key."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from hub.settings import load
from inbox.ingest import stage_batch
from inbox.models import Contact, Conversation, utcnow
from inbox.policy import InboxPolicy
from inbox.routing.router import queue_positions, route_team
from inbox.routing.rules import Facts, RuleError, first_match, is_vip, parse_rules, store_rules
from tests.inbox.helpers import message
from tests.inbox.routing.setup import dialogs, online, route, team_with_agents


async def test_a_keyword_rule_sends_its_dialogs_to_its_team_and_the_rest_stay_with_the_accounts_team(
    session: AsyncSession,
) -> None:
    support, (helper,), account = await team_with_agents(session, 1, name="Support")
    billing, (cashier,), _ = await team_with_agents(session, 1, name="Billing")
    now = utcnow()
    await online(session, helper, now)
    await online(session, cashier, now)
    rules = [
        {"name": "vip", "team": "Support", "when": {"tags": ["vip"]}},
        {
            "name": "refunds",
            "team": "Billing",
            "priority": 2,
            "tags": ["refund"],
            "when": {"keywords": ["ВОЗВРАТ"]},
        },
    ]
    await store_rules(session, parse_rules(rules), actor_id=None)
    await session.commit()
    results, _ = await stage_batch(
        session,
        [
            message(account.id, "r1", ("email", "a@example.com"), text="Хочу возврат денег за заказ"),
            message(account.id, "r2", ("email", "b@example.com"), text="Где мой заказ?"),
        ],
        InboxPolicy(),
    )
    await session.commit()
    refund, other = [
        await session.get_one(Conversation, r.conversation_id)
        for r in results
        if not isinstance(r, Exception)
    ]
    await route(session, support.id, now)
    await route_team(session, billing.id, now)
    await session.commit()
    refund = await session.get_one(Conversation, refund.id, populate_existing=True)
    other = await session.get_one(Conversation, other.id, populate_existing=True)
    assert (refund.team_id, refund.assignee_id, refund.priority) == (billing.id, cashier.id, 2)
    assert (other.team_id, other.assignee_id) == (support.id, helper.id)
    assert (await session.get_one(Contact, refund.contact_id)).tags == ["refund"]


def facts(**changes: object) -> Facts:
    base = {
        "account": "shop",
        "channel": "email",
        "card": "client",
        "tags": frozenset({"vip"}),
        "language": "en",
        "text": "Order #1234 is late",
        "in_business_hours": False,
    }
    return Facts(**{**base, **changes})  # type: ignore[arg-type]


def test_first_match_wins_and_every_condition_given_must_hold() -> None:
    rules = parse_rules(
        [
            {"name": "night leads", "team": "Night", "when": {"card": "lead", "business_hours": False}},
            {"name": "orders", "team": "Orders", "when": {"regex": r"order\s*#\d+", "channel": ["email"]}},
            {"name": "english", "team": "Intl", "when": {"language": ["en"]}},
            {"name": "anything", "team": "Support"},
        ]
    )
    assert first_match(rules, facts()).name == "orders"  # type: ignore[union-attr]
    assert first_match(rules, facts(card="lead")).name == "night leads"  # type: ignore[union-attr]
    assert first_match(rules, facts(card="lead", in_business_hours=True)).name == "orders"  # type: ignore[union-attr]
    assert first_match(rules, facts(channel="telegram")).name == "english"  # type: ignore[union-attr]
    assert first_match(rules, facts(channel="vk", language="ru")).name == "anything"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([{"name": "a", "team": "X"}, {"name": "b", "when": {"colour": "red"}}], "rules[1].when.colour"),
        ([{"name": "a", "when": {"regex": "(unclosed"}}], "rules[0].when.regex"),
        ([{"name": "a", "when": {"card": "prospect"}}], "rules[0].when.card"),
        ([{"team": "X"}], "rules[0].name"),
    ],
)
def test_a_bad_rule_is_refused_naming_its_index_and_key(rules: list[dict[str, object]], field: str) -> None:
    with pytest.raises(RuleError) as caught:
        parse_rules(rules)
    assert caught.value.field == field
    assert field in str(caught.value)


def test_rules_in_configuration_are_checked_when_the_settings_load() -> None:
    with pytest.raises(ValidationError, match=r"routing\.rules\[0\]\.when\.keyword"):
        load(routing={"rules": [{"name": "typo", "team": "Billing", "when": {"keyword": ["refund"]}}]})


def test_a_card_is_vip_by_a_vip_tag_or_a_truthy_custom_field() -> None:
    assert is_vip(["vip"], None, ["vip"])
    assert is_vip(["gold"], {}, ["vip", "gold"])
    assert is_vip([], {"vip": True}, ["vip"]) and is_vip([], {"vip": "да"}, ["vip"])
    assert not is_vip(["regular"], {"vip": "нет"}, ["vip"])
    assert not is_vip([], {"vip": "false"}, ["vip"]) and not is_vip([], {"vip": 0}, ["vip"])
    vip_rule = parse_rules([{"name": "vip", "team": "Support", "when": {"vip": True}}])
    assert first_match(vip_rule, facts(vip=True)) is not None
    assert first_match(vip_rule, facts(vip=False)) is None


async def test_a_vip_rules_priority_puts_its_dialog_first_in_the_queue_and_oldest_first_within_a_priority(
    session: AsyncSession,
) -> None:
    team, (agent,), account = await team_with_agents(session, 1, capacity=1)
    await store_rules(
        session,
        parse_rules([{"name": "vip", "team": "Support", "priority": 5, "when": {"vip": True}}]),
        actor_id=None,
    )
    await session.commit()
    start = utcnow()
    (older,) = await dialogs(session, account, 0, 1)
    await route(session, team.id, start)  # nobody online: it waits
    await session.commit()
    vip, newer = await dialogs(session, account, 1, 2)
    card = await session.get_one(Contact, (await session.get_one(Conversation, vip)).contact_id)
    card.custom_fields = {"vip": "yes"}
    await session.commit()
    later = start + timedelta(minutes=3)
    await route(session, team.id, later)
    await session.commit()
    line = await queue_positions(session, {team.id}, later)
    assert [(q["conversation_id"], q["position"], q["priority"]) for q in line] == [
        (vip, 1, 5),
        (older, 2, 0),
        (newer, 3, 0),
    ]
    assert line[1]["waiting_seconds"] == 180.0
    await online(session, agent, later)  # room for one: the VIP goes first
    await route_team(session, team.id, later)
    await session.commit()
    taken = await session.get_one(Conversation, vip, populate_existing=True)
    assert taken.assignee_id == agent.id
    assert (await session.get_one(Conversation, older, populate_existing=True)).assignee_id is None
