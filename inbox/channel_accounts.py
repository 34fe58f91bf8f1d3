"""A channel account's kind, and retiring an account: what `okno accounts retire NAME` does.

An account that holds nothing yet (no conversation, call or quarantined item) may change its kind in the
configuration: its row simply takes the new kind. One that holds history keeps its kind for good — its
conversations were threaded and its identities matched by that channel's rules. To reuse the name for
another kind, the account is *retired*: its row is renamed ``NAME~retired-ID`` with the state ``retired``,
so no connector runs for it and nothing is deleted (its conversations, calls and quarantine stay, under
the new name); the configured name is then free for a new account.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.models import Call, ChannelAccount, Conversation, QuarantineItem, utcnow

RETIRED = "retired"


class AccountKindError(ValueError):
    """A configured kind that an account with history cannot take."""


class RetireError(LookupError):
    """No such account, or it is retired already."""


async def in_use(session: AsyncSession, account_id: int) -> bool:
    """Does the account hold history: a conversation, a call or a quarantined item?"""
    for query in (
        select(Conversation.id).where(Conversation.account_id == account_id),
        select(Call.id).where(Call.account_id == account_id),
        select(QuarantineItem.id).where(QuarantineItem.account_id == account_id),
    ):
        if await session.scalar(query.limit(1)) is not None:
            return True
    return False


async def change_kind(session: AsyncSession, row: ChannelAccount, kind: str) -> None:
    """Give an unused account its newly configured `kind`; an account with history is refused with the
    way forward (:class:`AccountKindError`)."""
    if row.kind == kind:
        return
    if await in_use(session, row.id):
        raise AccountKindError(
            f"account {row.name!r} was a {row.kind} account and has history, so it cannot become {kind}: "
            f"run `okno accounts retire {row.name}` (its history stays) to reuse the name, "
            "or give the new account another name"
        )
    row.kind = kind
    row.cursor = None  # the old channel's position means nothing to the new one
    row.signing_key = None


async def retire(session: AsyncSession, name: str) -> ChannelAccount:
    """Retire the account `name`: renamed ``NAME~retired-ID``, state ``retired``; nothing deleted."""
    row = await session.scalar(select(ChannelAccount).where(ChannelAccount.name == name))
    if row is None:
        raise RetireError(f"no channel account named {name!r}")
    row.name = f"{name}~{RETIRED}-{row.id}"
    row.state = RETIRED
    row.state_detail = f"was {name!r} ({row.kind}); retired, its history kept"
    row.state_changed_at = utcnow()
    row.cursor = None
    await session.flush()
    return row
