"""The SIP connector's contract: no outbound text, clear configuration errors, a failing account alone."""

from __future__ import annotations

from typing import Any

import pytest

from channels.base import AccountContext, connector_class
from channels.sip.connector import SipConnector
from hub.runtime import Hub
from inbox.items import DeliveryError, IdentityRef, OutboundMessage
from tests.waiting import eventually


def reply() -> OutboundMessage:
    return OutboundMessage(
        outbox_id=1,
        message_id=1,
        account_id=1,
        conversation_id=1,
        idempotency_key="k",
        text="Перезвоним вам",
        html=None,
        recipients=(IdentityRef("phone", "+79139097332"),),
        contact_name=None,
        agent_name=None,
    )


def test_sip_kind_is_registered() -> None:
    assert connector_class("sip") is SipConnector


async def test_calls_cannot_be_replied_to() -> None:
    connector = SipConnector(AccountContext(id=1, name="pbx", kind="sip", options={"source": "cti"}))
    with pytest.raises(DeliveryError, match="calls cannot be replied to") as err:
        await connector.send(reply())
    assert err.value.permanent
    await connector.close()
    await connector.close()  # idempotent


@pytest.mark.parametrize(
    ("options", "secrets", "message"),
    [
        ({}, {}, "option source"),
        ({"source": "fax"}, {}, "option source"),
        ({"source": "ami", "username": "okno"}, {}, "needs username and secret"),
        ({"source": "cdr_csv"}, {}, "needs path"),
        ({"source": "cti"}, {}, "needs a token"),
        ({"source": "cti", "colour": "red"}, {"token": "t"}, "colour"),
        ({"source": "cti", "callback_due_minutes": -5}, {"token": "t"}, "callback_due_minutes"),
        ({"source": "kamailio_acc", "path": "/x", "tables": ["acc; DROP"]}, {}, "not a column or table name"),
        ({"source": "cdr_csv", "path": "/x", "timezone": "Moscow"}, {}, "unknown time zone"),
    ],
)
def test_configuration_errors_name_the_option(
    options: dict[str, Any], secrets: dict[str, str], message: str
) -> None:
    connector = SipConnector(AccountContext(id=1, name="pbx", kind="sip", options=options, secrets=secrets))
    with pytest.raises(ValueError, match=message):
        connector.options()


async def test_a_misconfigured_account_retries_without_touching_the_others(hub_factory: Any) -> None:
    hub: Hub = await hub_factory(
        accounts={
            "broken": {"kind": "sip", "source": "ami", "username": "okno"},
            "fine": {"kind": "sip", "source": "cti", "token": "t"},
        }
    )
    broken = hub.accounts["broken"].context.id
    fine = hub.accounts["fine"].context.id
    await eventually(
        lambda: (
            hub.supervisor.states[broken].state == "retrying"
            and hub.supervisor.states[fine].state == "running"
        ),
        "the broken account retrying and the fine one running",
    )
    assert hub.supervisor.states[broken].state == "retrying"
    assert "needs username and secret" in (hub.supervisor.states[broken].detail or "")
    assert hub.supervisor.states[fine].state == "running"
