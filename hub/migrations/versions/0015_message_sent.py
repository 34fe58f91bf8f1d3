"""the volume report counts outbound messages from "message_sent" reporting events (written with each reply,
auto-reply and imported one, under the team the conversation had then: inbox.reports.sent) instead of from
the messages table under the conversation's team of today

The messages already stored get their events here, under their conversation's team now: the team at the
time was never recorded, so that is the best there is. Notes are no outbound messages and get none.

Revision ID: 0015_message_sent
Revises: 0014_inbox_speed
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_message_sent"
down_revision: str | None = "0014_inbox_speed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO reporting_events"
        " (name, occurred_at, conversation_id, contact_id, agent_id, team_id, account_id, channel_kind)"
        " SELECT 'message_sent', m.created_at, m.conversation_id, c.contact_id, m.agent_id, c.team_id,"
        " c.account_id, c.channel_kind"
        " FROM messages m JOIN conversations c ON c.id = m.conversation_id"
        " WHERE m.direction = 'out'"
        " ORDER BY m.id"
    )


def downgrade() -> None:
    op.execute("DELETE FROM reporting_events WHERE name = 'message_sent'")
