"""When each channel account last received something: its newest inbound message or call (the channels
page and ``GET /api/v1/channels`` show it next to the account's state and quarantine count)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Call, Message


async def last_received(session: AsyncSession, account_ids: Iterable[int]) -> dict[int, datetime]:
    """Account id → the time of its newest inbound message or call; accounts that received nothing are absent.

    One indexed lookup per account (ix_messages_account_created) rather than a GROUP BY over every message.
    """
    found: dict[int, datetime] = {}
    for account_id in account_ids:
        message = await session.scalar(
            select(func.max(Message.created_at)).where(
                Message.account_id == account_id, Message.direction == "in"
            )
        )
        call = await session.scalar(select(func.max(Call.started_at)).where(Call.account_id == account_id))
        times = [t for t in (message, call) if t is not None]
        if times:
            found[account_id] = max(times)
    return found
