"""the web-chat signing key in a column of its own, out of channel_accounts.cursor

Revision ID: 0004_webchat_signing_key
Revises: 0008_report_waits
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_webchat_signing_key"
down_revision: str | None = "0008_report_waits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FIELD = "visitor_key"  # where the key sat in the cursor's JSON before


def _key_in(cursor: str | None) -> str | None:
    try:
        value = json.loads(cursor) if cursor else None
    except ValueError:
        return None
    key = value.get(FIELD) if isinstance(value, dict) else None
    return key if isinstance(key, str) and 32 <= len(key) <= 128 else None


def upgrade() -> None:
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signing_key", sa.String(length=128), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT id, cursor FROM channel_accounts WHERE kind = 'webchat' AND cursor IS NOT NULL")
    ).all()
    for account_id, cursor in rows:
        key = _key_in(cursor)
        if key is not None:  # anything else in a web-chat cursor is left where it is
            connection.execute(
                sa.text("UPDATE channel_accounts SET signing_key = :key, cursor = NULL WHERE id = :id"),
                {"key": key, "id": account_id},
            )


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT id, signing_key FROM channel_accounts WHERE signing_key IS NOT NULL AND cursor IS NULL"
        )
    ).all()
    for account_id, key in rows:
        connection.execute(
            sa.text("UPDATE channel_accounts SET cursor = :cursor WHERE id = :id"),
            {"cursor": json.dumps({FIELD: key}), "id": account_id},
        )
    with op.batch_alter_table("channel_accounts", schema=None) as batch_op:
        batch_op.drop_column("signing_key")
