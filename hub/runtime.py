"""The running hub: one object that owns the engine, the event bus, the ingest queue, the outbox worker,
the scheduler, shared presence and the supervisor, starts them in order and stops them in reverse. The web
app and the CLI use it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import AccountContext, InboundItem
from hub import db
from hub.bus import LocalBus
from hub.bus_redis import RedisBus
from hub.finishing import Finishing
from hub.presence import Presence
from hub.settings import AccountSettings, MissingSecret, Settings
from hub.supervisor import Supervisor
from inbox.blobs import BlobStore
from inbox.calls import CallSettings
from inbox.dispatch import Outcome, Receiver
from inbox.ingest import IngestQueue
from inbox.models import ChannelAccount, Team
from inbox.outbox import OutboxWorker, RetryPolicy
from inbox.scheduler import Scheduler

log = logging.getLogger(__name__)

# Account fields that hold secrets: kept apart from options so they are never shown by the API.
SECRET_FIELDS = frozenset(
    {
        "token",
        "secret",
        "password",
        "smtp_password",
        "callback_token",
        "bot_token",
        "access_token",
        "api_key",
        "login_secret",
        "identity_secret",
    }
)


class DbCursor:
    """A connector's cursor (IMAP UID, update offset, long-poll ts) stored on its account row."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], account_id: int) -> None:
        self._sessionmaker = sessionmaker
        self._account_id = account_id
        self.pending: set[asyncio.Task[None]] = set()

    async def load(self) -> str | None:
        async with self._sessionmaker() as session:
            account = await session.get_one(ChannelAccount, self._account_id)
            return account.cursor

    async def save(self, value: str) -> None:
        # Shielded: a connector cancelled mid-save must not leave a transaction (on SQLite, the write
        # lock) half done; the save finishes on its own, and the hub waits for it before it stops.
        write = asyncio.create_task(self._save(value))
        self.pending.add(write)
        write.add_done_callback(self.pending.discard)
        await asyncio.shield(write)

    async def _save(self, value: str) -> None:
        async with self._sessionmaker() as session:
            account = await session.get_one(ChannelAccount, self._account_id)
            account.cursor = value
            await session.commit()


@dataclass(frozen=True, slots=True)
class ConfiguredAccount:
    context: AccountContext
    team_id: int | None
    problem: str | None


def split_account(config: AccountSettings) -> tuple[dict[str, object], dict[str, str], str | None]:
    """Options (safe to show), secrets, and a configuration problem if a secret cannot be read."""
    options: dict[str, object] = {}
    secrets: dict[str, str] = {}
    problem = None
    for key, value in (config.model_extra or {}).items():
        if key.endswith("_env"):
            try:
                found = config.secret(key[:-4])
            except MissingSecret as exc:
                problem = str(exc)
                continue
            if found:
                secrets[key[:-4]] = found
        elif key in SECRET_FIELDS:
            secrets[key] = str(value)
        else:
            options[key] = value
    return options, secrets, problem


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = db.create_engine(settings.database_url)
        self.sessionmaker = db.sessionmaker(self.engine)
        self.bus: LocalBus | RedisBus = RedisBus(settings.bus_url) if settings.bus_url else LocalBus()
        self.policy = settings.policy()
        self.ingest = IngestQueue(
            self.sessionmaker, policy=self.policy, publisher=self.bus, max_batch=settings.ingest.max_batch
        )
        self.receiver = Receiver(
            self.sessionmaker, self.ingest, self.policy, self.bus, call_settings=self.call_settings
        )
        self.supervisor = Supervisor(self.sessionmaker, self.sink)
        self.outbox = OutboxWorker(
            self.sessionmaker,
            self.supervisor.sender_for,
            publisher=self.bus,
            retry=RetryPolicy(
                max_attempts=settings.outbox.max_attempts,
                base_delay=settings.outbox.base_delay_seconds,
                max_delay=settings.outbox.max_delay_seconds,
            ),
            poll_seconds=settings.outbox.poll_seconds,
            blobs=BlobStore(self.policy.attachments_dir) if self.policy.attachments_dir else None,
        )
        self.scheduler = Scheduler(self.sessionmaker, publisher=self.bus)  # snoozes ending, later SLAs
        self.presence = Presence(self.sessionmaker)
        # Database work of socket handlers that must not be cut by a cancel (see hub.finishing).
        self.finishing = Finishing()
        self.accounts: dict[str, ConfiguredAccount] = {}
        self._started = False

    async def sink(self, item: InboundItem) -> Outcome:
        """Where connectors hand items in (see inbox.dispatch); returns after the item is committed."""
        return await self.receiver(item)

    def call_settings(self, account_id: int) -> CallSettings:
        """The call settings of an account, from its configured options."""
        options = next((c.context.options for c in self.accounts.values() if c.context.id == account_id), {})
        return CallSettings.from_options(options, self.policy.default_region)

    async def sync_accounts(self) -> dict[str, ConfiguredAccount]:
        """Make a ChannelAccount row (and its team) for every configured account; return them by name."""
        async with self.sessionmaker() as session:
            for name, config in self.settings.accounts.items():
                team_id = None
                if config.team:
                    team = await session.scalar(select(Team).where(Team.name == config.team))
                    if team is None:
                        team = Team(name=config.team)
                        session.add(team)
                        await session.flush()
                    team_id = team.id
                row = await session.scalar(select(ChannelAccount).where(ChannelAccount.name == name))
                if row is None:
                    row = ChannelAccount(name=name, kind=config.kind, team_id=team_id)
                    session.add(row)
                    await session.flush()
                elif row.kind != config.kind:
                    raise ValueError(
                        f"account {name!r} was a {row.kind} account and is now configured as {config.kind}:"
                        " give the new one another name"
                    )
                row.team_id = team_id
                options, secrets, problem = split_account(config)
                context = AccountContext(
                    id=row.id,
                    name=name,
                    kind=config.kind,
                    options=options,
                    secrets=secrets,
                    cursor=DbCursor(self.sessionmaker, row.id),
                )
                if not config.enabled:
                    problem = problem or "disabled in configuration"
                self.accounts[name] = ConfiguredAccount(context, team_id, problem)
            await session.commit()
        return self.accounts

    def apply_account_changes(self, settings: Settings) -> list[str]:
        """Take a changed configuration of the accounts that are running (the file re-read on SIGHUP):
        each whose options or secrets changed gets them and is tried again at once — an account shown
        as auth_failed does not wait out its backoff. Adding, removing or re-enabling an account, and
        every other setting, still take a restart (said in the log). Returns the accounts changed."""
        changed: list[str] = []
        for name, config in settings.accounts.items():
            configured = self.accounts.get(name)
            if configured is None or config.kind != configured.context.kind:
                log.warning("account %s is new or of another kind: restart the hub to start it", name)
                continue
            options, secrets, problem = split_account(config)
            old = configured.context
            if (dict(old.options), dict(old.secrets)) == (options, secrets):
                continue
            if problem or not config.enabled or configured.problem:
                why = problem or ("disabled" if not config.enabled else configured.problem)
                log.warning("account %s changed but was not applied (%s): restart the hub", name, why)
                continue
            context = replace(old, options=options, secrets=secrets)
            self.accounts[name] = replace(configured, context=context)
            self.supervisor.reconfigure(context)
            changed.append(name)
        for name in set(self.accounts) - set(settings.accounts):
            log.warning("account %s was removed from the configuration: restart the hub to stop it", name)
        return changed

    async def start(self, *, migrate: bool = True, channels: bool = True) -> None:
        if migrate:
            await db.migrate(self.engine)
        if isinstance(self.bus, RedisBus):
            await self.bus.start()
        await self.sync_accounts()
        await self.ingest.start()
        if channels:
            for configured in self.accounts.values():
                await self.supervisor.add(configured.context, configured.problem)
        await self.outbox.start()
        await self.scheduler.start()
        await self.presence.start()
        self._started = True

    async def stop(self) -> None:
        await self.finishing.wait()
        await self.presence.stop()
        await self.scheduler.stop()
        await self.outbox.stop()  # no send may be cut off by its connector closing
        await self.supervisor.stop()
        for configured in self.accounts.values():
            cursor = configured.context.cursor
            if isinstance(cursor, DbCursor):
                await asyncio.gather(*cursor.pending, return_exceptions=True)
        await self.ingest.stop()  # after the connectors: what they handed in is still committed
        if isinstance(self.bus, RedisBus):
            await self.bus.stop()
        await self.finishing.wait()  # what a socket closed by the shutdown still had to finish
        await self.engine.dispose()
        self._started = False
