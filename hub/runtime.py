"""The running hub: one object that owns the engine, the event bus, the ingest queue, the outbox worker,
the scheduler, shared presence, the router and the supervisor, starts them in order and stops them in
reverse. The web app and the CLI use it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.base import AccountContext, Capabilities, InboundItem, capabilities
from hub import db, metrics
from hub.bus import LocalBus
from hub.bus_redis import RedisBus
from hub.config_check import SECRET_FIELDS  # kept apart from options: never shown by the API
from hub.finishing import Finishing
from hub.holds import Holds
from hub.presence import Presence
from hub.settings import ROOT, AccountSettings, MissingSecret, Settings
from hub.supervisor import Supervisor
from inbox.blobs import BlobStore
from inbox.calls import CallSettings
from inbox.capabilities import NOTHING
from inbox.channel_accounts import change_kind
from inbox.dispatch import Outcome, Receiver
from inbox.ingest import IngestQueue
from inbox.items import Delivery, DeliveryError, MessageSender, OutboundMessage
from inbox.knowledge.defaults import load_defaults, read_defaults
from inbox.knowledge.index_cache import IndexCache
from inbox.models import ChannelAccount, RoutingRule, Team
from inbox.outbox import OutboxWorker, RetryPolicy
from inbox.routing.auto_reply import AutoReplies
from inbox.routing.availability import StatusLapses
from inbox.routing.reroute import AnswerTimeouts
from inbox.routing.rules import parse_rules, store_rules
from inbox.routing.teams import edited_teams
from inbox.routing.worker import RouterWorker
from inbox.scheduler import JOB_KINDS, Scheduler

log = logging.getLogger(__name__)

REPLY_TEMPLATES = ROOT / "templates" / "replies"  # the knowledge base's shipped starter set
# Events after which a waiting dialog may find an agent (capacity freed, an agent arrived or came back).
ROUTING_TRIGGERS = frozenset(
    {"conversation.updated", "conversation.assigned", "agent.presence", "agent.availability"}
)


async def load_reply_templates(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    """The shipped starter templates, on a database's first start (see inbox.knowledge.defaults)."""
    entries = read_defaults(REPLY_TEMPLATES)  # read and parsed before the transaction
    async with sessionmaker() as session:
        try:
            created = await load_defaults(session, entries)
            await session.commit()
        except IntegrityError:
            # Another process starting at the same time on the same fresh database loaded them first
            # (PostgreSQL: our insert of a key waited for its commit, then collided).
            await session.rollback()
            log.info("starter reply templates were loaded by another process")
            return 0
    if created:
        log.info("loaded %d starter reply templates", created)
    return created


DEMO_NOT_CONNECTED = "demo: not connected"


class NotConnected:
    """A sender for an account no connector serves: every reply fails for good with `reason`."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def send(self, out: OutboundMessage) -> Delivery:
        raise DeliveryError(self.reason, permanent=True)


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


class UnknownTeam(ValueError):
    """A per-team section of the configuration names a team that does not exist."""


class Hub:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = db.create_engine(
            settings.database_url, busy_timeout=settings.sqlite_busy_timeout_seconds
        )
        self.sessionmaker = db.sessionmaker(self.engine)
        # For code paths that only read: never in the SQLite write lock's queue (hub.db.read_sessionmaker).
        self.reader = db.read_sessionmaker(self.engine)
        # SQLite: the write-ahead log copied into the database file off the commits' path (see the class).
        sqlite_file = db.sqlite_file(settings.database_url)
        self.checkpoints = db.Checkpoints(sqlite_file) if sqlite_file is not None else None
        self.bus: LocalBus | RedisBus = RedisBus(settings.bus_url) if settings.bus_url else LocalBus()
        self.policy = settings.policy()
        self.sla = settings.sla_book()  # the SLA targets, the teams' own included (reports, inbox list)
        routing = settings.routing
        self.router = RouterWorker(
            self.sessionmaker,
            publisher=self.bus,
            idle_seconds=routing.idle_seconds,
            hours=self.policy.business_hours,
            vip_tags=routing.vip_tags,
            # The rules' auto-replies: what each account can carry, then the outbox sends them.
            auto_replies=AutoReplies(settings.company.model_dump(), self.account_capabilities),
            on_auto_reply=lambda: self.outbox.wake(),
        )
        self.ingest: IngestQueue = metrics.MeasuredIngestQueue(  # counted for /metrics
            self.sessionmaker,
            policy=self.policy,
            publisher=self.bus,
            max_batch=settings.ingest.max_batch,
            on_opened=self.router.wake if routing.enabled else None,
        )
        self.receiver = Receiver(
            self.sessionmaker, self.ingest, self.policy, self.bus, call_settings=self.call_settings
        )
        # Which pulling accounts this process runs (one process per account on a shared PostgreSQL).
        self.holds = Holds(
            settings.database_url,
            retry_seconds=settings.cluster.hold_retry_seconds,
            timeout_seconds=settings.cluster.hold_timeout_seconds,
        )
        self.supervisor = Supervisor(self.sessionmaker, self.sink, holds=self.holds)
        self.outbox = OutboxWorker(
            self.sessionmaker,
            self.sender_for,
            publisher=self.bus,
            retry=RetryPolicy(
                max_attempts=settings.outbox.max_attempts,
                base_delay=settings.outbox.base_delay_seconds,
                max_delay=settings.outbox.max_delay_seconds,
                lease_seconds=settings.outbox.lease_seconds,
                send_timeout=settings.outbox.send_timeout_seconds,
            ),
            poll_seconds=settings.outbox.poll_seconds,
            elsewhere=self.supervisor.elsewhere,  # replies of accounts another process holds are its own
            blobs=BlobStore(self.policy.attachments_dir) if self.policy.attachments_dir else None,
        )
        # Snoozes ending, unanswered assignments moving on, "online" statuses lapsing without a socket.
        self.scheduler = Scheduler(
            self.sessionmaker,
            kinds=(
                *JOB_KINDS,
                AnswerTimeouts(),
                StatusLapses(timedelta(minutes=routing.offline_after_minutes)),
            ),
            publisher=self.bus,
        )
        self._router_watch: asyncio.Task[None] | None = None
        self.presence = Presence(self.sessionmaker)
        self.knowledge = IndexCache(self.sessionmaker)  # this process's template search index
        # Database work of socket handlers that must not be cut by a cancel (see hub.finishing).
        self.finishing = Finishing()
        self.accounts: dict[str, ConfiguredAccount] = {}
        # `okno demo`: accounts that exist only as sample history (id → kind): replies may be written and
        # fail at once as "demo: not connected"; and the web-chat account its `/demo/site` page embeds.
        self.samples: dict[int, str] = {}
        self.demo_site: str | None = None
        self._started = False

    async def sink(self, item: InboundItem) -> Outcome:
        """Where connectors hand items in (see inbox.dispatch); returns after the item is committed."""
        return await self.receiver(item)

    def call_settings(self, account_id: int) -> CallSettings:
        """The call settings of an account, from its configured options."""
        options = next((c.context.options for c in self.accounts.values() if c.context.id == account_id), {})
        return CallSettings.from_options(options, self.policy.default_region)

    def offline_form_mail(self) -> dict[int, int]:
        """Web-chat account id → the e-mail account its ``reply_by_email`` option names (replies to an
        offline-form message go out there: :func:`inbox.replies.reply_account`)."""
        found = {}
        for configured in self.accounts.values():
            mail_name = configured.context.options.get("reply_by_email")
            if configured.context.kind != "webchat" or not mail_name:
                continue
            mail = self.accounts.get(str(mail_name))
            if mail is not None and mail.context.kind == "email":
                found[configured.context.id] = mail.context.id
        return found

    def sender_for(self, account_id: int) -> MessageSender | None:
        """Who sends a reply through the account: its connector, or for a demo sample account a sender
        that fails it at once (not retried: no connector will ever come)."""
        if account_id in self.samples:
            return NotConnected(DEMO_NOT_CONNECTED)
        return metrics.traced(self.supervisor.sender_for(account_id))  # counted for /metrics, item_id

    def account_by_id(self, account_id: int) -> ConfiguredAccount | None:
        return next((c for c in self.accounts.values() if c.context.id == account_id), None)

    def account_capabilities(self, account_id: int) -> Capabilities:
        """What a reply through this account can carry: its kind's declared capabilities, or nothing for
        an account no longer configured (no connector would send its replies)."""
        configured = self.account_by_id(account_id)
        if configured is None and account_id in self.samples:  # the demo shows what the channel could do
            return capabilities(self.samples[account_id])
        return capabilities(configured.context.kind) if configured else NOTHING

    async def sync_accounts(self) -> dict[str, ConfiguredAccount]:
        """Make a ChannelAccount row (and its team) for every configured account; return them by name."""
        async with self.sessionmaker() as session:
            edited = await edited_teams(session)  # changed in the hub since: the database wins
            for team_name, routing in self.settings.routing.teams.items():
                team = await session.scalar(select(Team).where(Team.name == team_name))
                if team is None:
                    team = Team(name=team_name)
                    session.add(team)
                elif team.id in edited:
                    log.info("team %s: routing changed in the hub, [routing.teams] not applied", team_name)
                    continue
                team.strategy = routing.strategy
                team.agent_capacity = routing.agent_capacity
                minutes = routing.answer_timeout_minutes
                team.answer_timeout_seconds = round(minutes * 60) if minutes else None
            await session.flush()
            if self.settings.routing.rules and not await session.scalar(select(RoutingRule.id).limit(1)):
                rules = parse_rules(self.settings.routing.rules)
                await store_rules(session, rules, actor_id=None, create_teams=True)
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
                    await change_kind(session, row, config.kind)  # refused if it holds history
                    log.info("account %s is now a %s account (it held nothing yet)", name, config.kind)
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
            await session.flush()
            await self._resolve_new_clients_team(session)
            await self._check_team_sections(session)
            await session.commit()
        self.ingest.forget_accounts()  # their kind and team as just written (the batches keep them)
        return self.accounts

    async def _check_team_sections(self, session: AsyncSession) -> None:
        """Every team a per-team section names (`[sla.teams."<name>"]` …) must exist: a typo would
        otherwise silently leave that team on the hub's hours and targets."""
        named = {n for names in self.settings.team_names().values() for n in names}
        if not named:
            return
        known = set(await session.scalars(select(Team.name)))
        for section, names in self.settings.team_names().items():
            for name in names:
                if name not in known:
                    listed = ", ".join(sorted(known)) or "none yet"
                    raise UnknownTeam(
                        f'[{section}."{name}"]: no team named {name!r} (teams: {listed}); name a team '
                        "from [routing.teams], an account's team, or one an admin created"
                    )

    async def _resolve_new_clients_team(self, session: AsyncSession) -> None:
        """`[routing] new_clients_team` → its team's id in the policy the ingest uses; a name no team has
        (in `[routing.teams]`, an account's `team`, or made by an admin) is a configuration error."""
        name = self.settings.routing.new_clients_team
        team_id = None
        if name is not None:
            team_id = await session.scalar(select(Team.id).where(Team.name == name))
            if team_id is None:
                raise ValueError(
                    f"routing.new_clients_team: no team is named {name!r} (name one of [routing.teams],"
                    " an account's team, or a team an admin made)"
                )
        if team_id != self.policy.new_clients_team_id:
            self.policy = replace(self.policy, new_clients_team_id=team_id)
            self.ingest.policy = self.policy
            self.receiver = replace(self.receiver, policy=self.policy)

    async def load_reply_templates(self) -> int:
        return await load_reply_templates(self.sessionmaker)

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
        async with db.startup_lock(self.engine):  # PostgreSQL: processes started together, one at a time
            if migrate:
                await db.migrate(self.engine)
            if isinstance(self.bus, RedisBus):
                await self.bus.start()
            if self.settings.knowledge.load_defaults:  # first: the rules seeded next may name a template
                await self.load_reply_templates()
            await self.sync_accounts()
        if self.checkpoints is not None:
            self.checkpoints.start()
        await self.ingest.start()
        if channels:
            await self.holds.start()
            for configured in self.accounts.values():
                await self.supervisor.add(configured.context, configured.problem)
        await self.outbox.start()
        await self.scheduler.start()
        await self.presence.start()
        if self.settings.routing.enabled:
            await self.router.start()
            self._router_watch = asyncio.create_task(self._wake_router_on_events(), name="okno-router-watch")
        self._started = True

    async def _wake_router_on_events(self) -> None:
        """Wake the router on every event that may free capacity or bring an agent, from any process."""
        async with self.bus.subscribe() as subscription:
            async for event in subscription:
                if event.type in ROUTING_TRIGGERS and not event.data.get("reason"):
                    self.router.wake()  # (an assignment the router made itself carries a reason)

    async def stop(self) -> None:
        if self._router_watch is not None:
            self._router_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._router_watch
            self._router_watch = None
        await self.router.stop()
        await self.finishing.wait()
        await self.presence.stop()
        await self.scheduler.stop()
        await self.outbox.stop()  # no send may be cut off by its connector closing
        await self.supervisor.stop()
        await self.holds.stop()  # after the connectors stopped: only then may another process take them
        for configured in self.accounts.values():
            cursor = configured.context.cursor
            if isinstance(cursor, DbCursor):
                await asyncio.gather(*cursor.pending, return_exceptions=True)
        await self.ingest.stop()  # after the connectors: what they handed in is still committed
        if isinstance(self.bus, RedisBus):
            await self.bus.stop()
        await self.finishing.wait()  # what a socket closed by the shutdown still had to finish
        if self.checkpoints is not None:
            await self.checkpoints.stop()
        await self.engine.dispose()
        self._started = False
