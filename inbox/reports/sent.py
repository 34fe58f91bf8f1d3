"""The volume report's fact of an outbound message: a "message_sent" reporting event, written with the
message, under the team and channel the conversation had then.

Counting outbound messages through the messages table would file each under the conversation's team of
today: a reply sent for Sales in a dialog later handed to Support would count for Support, and a Sales
supervisor's report would lose it. Every writer of an outbound message (a reply, an auto-reply, an imported
one) adds this event in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from inbox.models import Conversation, ReportingEvent

MESSAGE_SENT = "message_sent"


def message_sent(conv: Conversation, at: datetime, agent_id: int | None) -> ReportingEvent:
    """The event of one outbound message of `conv` at `at` (`agent_id` None: an automatic one)."""
    return ReportingEvent(
        name=MESSAGE_SENT,
        occurred_at=at,
        conversation_id=conv.id,
        contact_id=conv.contact_id,
        agent_id=agent_id,
        team_id=conv.team_id,
        account_id=conv.account_id,
        channel_kind=conv.channel_kind,
    )
