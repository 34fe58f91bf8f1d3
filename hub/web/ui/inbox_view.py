"""What the agent inbox's templates show, built from the domain: list rows, the timeline, the card.

Plain dicts of already-formatted strings (times in the agent's time zone, labels in the page language),
so the templates only lay them out; Jinja escapes every value.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, dates
from markupsafe import Markup, escape
from sqlalchemy.ext.asyncio import AsyncSession

from hub.web.ui import i18n
from inbox import contacts
from inbox.agent_admin import active_agents, list_teams
from inbox.conversations import ConversationFilter, Viewer, list_conversations
from inbox.edits import previous_versions
from inbox.models import Agent, Conversation, Message, Task, utcnow
from inbox.names import agent_names, contact_names
from inbox.queues import QueueRow
from inbox.reports.due import SlaDue
from inbox.tasks import TaskFilter, assignable_agents, list_tasks, task_details
from inbox.timeline import Entry, contact_timeline

JSON = dict[str, Any]
PALETTE = ("#3b6fd8", "#2f9e77", "#b7612c", "#8a55c8", "#c2417a", "#2b8ca8", "#6a7d1f", "#9a5b3c")


class Clock:
    """Times as people read them, in the agent's time zone (:func:`agent_clock`) and the page's language
    (Babel's CLDR formats: «5 января» and "January 5", «15:04» and "3:04 PM")."""

    def __init__(self, timezone: str, lang: str) -> None:
        self.zone = ZoneInfo(timezone)
        self.t = i18n.Texts(lang)
        self.lang = self.t.lang
        self.locale = Locale.parse(self.lang)  # once, not in every call (a list page formats 200 times)
        self.today = utcnow().astimezone(self.zone).date()

    def _date(self, skeleton: str, day: date) -> str:
        return _date_text(self.lang, skeleton, day)

    def local(self, value: datetime) -> datetime:
        return value.astimezone(self.zone)

    def time(self, value: datetime | None) -> str:
        if not value:
            return ""
        local = self.local(value)
        if _minute_pattern(self.lang):
            return _minute_text(self.lang, local.hour, local.minute)
        return dates.format_time(local, "short", locale=self.locale)

    def day(self, value: datetime) -> str:
        on = self.local(value).date()
        if on == self.today:
            return self.t.gettext("Today")
        if on == self.today - timedelta(days=1):
            return self.t.gettext("Yesterday")
        return self._date("MMMMd" if on.year == self.today.year else "yMMMMd", on)

    def short(self, value: datetime | None) -> str:
        """A list row's time: the time today, else the date."""
        if value is None:
            return ""
        local = self.local(value)
        if local.date() == self.today:
            return self.time(local)
        return self._date("MMMd", local.date())

    def full(self, value: datetime | None) -> str:
        if value is None:
            return ""
        return f"{self.day(value)}, {self.time(value)}"


# Babel formats a time or a date in about 25 µs; a list page formats 300 of them, mostly the same few
# days and minutes. Cached per process: a format depends only on the language and its arguments.
@functools.lru_cache(maxsize=8192)
def _date_text(lang: str, skeleton: str, day: date) -> str:
    return dates.format_skeleton(skeleton, day, locale=Locale.parse(lang))


@functools.lru_cache(maxsize=16)
def _minute_pattern(lang: str) -> bool:
    """Whether the language's short time shows nothing finer than the minute and no zone (ru «HH:mm», en
    "h:mm a"), so that the text of a time of day is the text of its hour and minute alone."""
    pattern = Locale.parse(lang).time_formats["short"].pattern
    fields = "".join(ch for part in pattern.split("'")[::2] for ch in part)  # outside quoted literals
    return not any(ch in fields for ch in "sSAzZOvVXx")


@functools.lru_cache(maxsize=4096)
def _minute_text(lang: str, hour: int, minute: int) -> str:
    return dates.format_time(time(hour, minute), "short", locale=Locale.parse(lang))


def agent_clock(agent: Agent, hub_zone: str, lang: str) -> Clock:
    """The clock of the agent's pages: their own zone (``Agent.timezone``), else the hub's business hours'."""
    return Clock(agent.timezone or hub_zone, lang)


def display_name(name: str | None, contact_id: int, t: i18n.Texts) -> str:
    """A card's name, or "Guest #12" for a visitor who never gave one."""
    return name.strip() if name and name.strip() else t.gettext("Guest #%(id)d", id=contact_id)


def initials(name: str | None) -> str:
    words = [w for w in (name or "").split() if w[:1].isalnum()]
    if not words:
        return "?"
    return (words[0][0] + (words[1][0] if len(words) > 1 else "")).upper()


def avatar_color(key: int) -> str:
    return PALETTE[key % len(PALETTE)]


def list_rows(convs: Sequence[QueueRow], viewer: Viewer, clock: Clock) -> list[JSON]:
    """The rows of a queue's page (inbox.queues.queue_page), as the list shows them."""
    t = clock.t
    titles: dict[tuple[str, int], str] = {}  # a plural per distinct count, not per row

    def title(kind: str, num: int) -> str:
        found = titles.get((kind, num))
        if found is None:
            if kind == "unread":
                found = t.ngettext("%(num)d unread message", "%(num)d unread messages", num)
            else:
                found = t.ngettext(
                    "%(num)d message awaiting a reply", "%(num)d messages awaiting a reply", num
                )
            titles[kind, num] = found
        return found

    rows = []
    for conv in convs:
        name = display_name(conv.contact_name, conv.contact_id, t)
        body = conv.last_body if conv.last_id is not None else conv.subject
        preview = (body or "").strip().replace("\n", " ")[:140]
        if conv.last_id is not None and conv.last_direction == "out":
            # "You:" only on the viewer's own reply; a colleague's reply carries their name
            if conv.last_agent_id == viewer.agent_id:
                preview = t.gettext("You: %(text)s", text=preview)
            elif conv.last_agent_id is not None and conv.last_author_found:
                preview = t.gettext("%(name)s: %(text)s", name=conv.last_author_name, text=preview)
        rows.append(
            {
                "id": conv.id,
                "name": name,
                "initials": initials(name),
                "color": avatar_color(conv.contact_id),
                "channel": conv.channel_kind,
                "channel_label": t.channel(conv.channel_kind),
                "status": conv.status,
                "status_label": t.status(conv.status),
                "subject": conv.subject,
                "preview": preview,
                "when": clock.short(conv.last_message_at or conv.created_at),
                "when_full": clock.full(conv.last_message_at or conv.created_at),
                "waiting": conv.waiting,
                "waiting_title": title("waiting", conv.waiting),
                "unread": conv.unread,
                "unread_title": title("unread", conv.unread),
                "mine": conv.assignee_id == viewer.agent_id,
                "assignee": conv.assignee_name if conv.assignee_id else None,
            }
        )
    return rows


def sla_mark(due: SlaDue | None, clock: Clock, now: datetime) -> JSON | None:
    """A list row's SLA: the time the client is due an answer, or how long ago it passed (a breach)."""
    if due is None:
        return None
    t = clock.t
    if due.breached:
        return {
            "breached": True,
            "label": t.gettext("Overdue"),
            "title": t.gettext(
                "An answer was due at %(time)s (%(late)s ago)",
                time=clock.full(due.due_at),
                late=t.waited(max(60.0, (now - due.due_at).total_seconds())),
            ),
            "due_at": due.due_at.isoformat(),
        }
    return {
        "breached": False,
        "label": t.gettext("due %(time)s", time=clock.short(due.due_at)),
        "title": t.gettext("An answer is due by %(time)s", time=clock.full(due.due_at)),
        "due_at": due.due_at.isoformat(),
    }


def _duration(seconds: int | None) -> str:
    if not seconds:
        return ""
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes}:{sec:02d}"


def _safe_url(url: str | None) -> str | None:
    return url if url and url.lower().startswith(("https://", "http://")) else None


async def timeline_items(
    session: AsyncSession, contact_id: int, current: Conversation, viewer: Viewer, clock: Clock
) -> list[JSON]:
    """The timeline with day separators and a marker wherever the conversation changes."""
    entries = await contact_timeline(session, contact_id, viewer)
    agent_ids = {e.message.agent_id for e in entries if e.message and e.message.agent_id}
    agent_ids |= {e.call.agent_id for e in entries if e.call and e.call.agent_id}
    agents = await agent_names(session, agent_ids)
    contact_name = display_name(
        (await contact_names(session, [contact_id])).get(contact_id), contact_id, clock.t
    )
    t = clock.t
    items: list[JSON] = []
    day = None
    thread: int | None = None
    for entry in entries:
        label = clock.day(entry.at)
        if label != day:
            items.append({"kind": "day", "label": label})
            day = label
        conv = entry.conversation
        if conv is not None and conv.id != thread:
            thread = conv.id
            items.append(
                {
                    "kind": "thread",
                    "id": conv.id,
                    "current": conv.id == current.id,
                    "channel": conv.channel_kind,
                    "channel_label": t.channel(conv.channel_kind),
                    "subject": conv.subject,
                    "status_label": t.status(conv.status),
                }
            )
        if entry.message is not None:
            items.append(_message_item(entry, entry.message, current, agents, contact_name, clock))
        elif entry.call is not None:
            call = entry.call
            items.append(
                {
                    "kind": "call",
                    "id": call.id,
                    "direction": t.label(i18n.CALLS, call.direction),
                    "disposition": call.disposition or "",
                    "disposition_label": t.label(i18n.CALLS, call.disposition),
                    "talk": _duration(call.talk_seconds),
                    "wait": _duration(call.wait_seconds),
                    "number": call.from_number if call.direction == "inbound" else call.to_number,
                    "agent": agents.get(call.agent_id) if call.agent_id else None,
                    "time": clock.time(entry.at),
                    "recording": _safe_url(call.recording_url),
                }
            )
    return items


def _message_item(
    entry: Entry, message: Message, current: Conversation, agents: dict[int, str], contact: str, clock: Clock
) -> JSON:
    t = clock.t
    agent = agents.get(message.agent_id or 0) or t.gettext("Okno")
    author = contact if message.direction == "in" else agent
    status = message.delivery_status
    error = message.delivery_error
    text = message.body_text
    if message.kind == "handover" and isinstance(message.meta, dict):  # a service note of routing
        text = t.handover(str(message.meta.get("reason") or "") or None)
    if message.kind == "rule_note" and isinstance(message.meta, dict):  # an auto-reply not sent
        text = t.auto_reply_skipped(message.meta)
    return {
        "kind": "message",
        "id": message.id,
        "direction": message.direction,
        "event": message.kind != "message",
        "auto_reply": message.kind == "auto_reply" and message.direction == "out",
        "current": message.conversation_id == current.id,
        "author": author,
        "text": text,
        "subject": message.subject if message.direction == "in" and message.subject else None,
        "time": clock.time(entry.at),
        "time_full": clock.full(entry.at),
        "status": status,
        "status_label": t.label(i18n.DELIVERY, status) if status else None,
        "error": error,
        "retrying": bool(error and status == "queued"),
        "attachments": [
            {
                "id": a.id,
                "stored": a.sha256 is not None,
                "name": a.filename,
                "size": a.size,
                "refused": a.refused,
            }
            for a in message.attachments
        ],
        "page": message.meta.get("page") if isinstance(message.meta, dict) else None,
        "offline_form": bool(message.meta.get("offline_form")) if isinstance(message.meta, dict) else False,
        "edited": clock.full(message.edited_at) if message.edited_at else None,
        "previous": [v["text"] for v in previous_versions(message)],
    }


async def card(
    session: AsyncSession, contact_id: int, current: Conversation, viewer: Viewer, clock: Clock
) -> JSON:
    """The client card beside the conversation."""
    t = clock.t
    contact = await contacts.get_contact(session, contact_id)
    owner = (
        (await agent_names(session, [contact.owner_id])).get(contact.owner_id) if contact.owner_id else None
    )
    convs = await list_conversations(session, viewer, ConversationFilter(contact_id=contact.id), limit=20)
    duplicates = []
    for pair in await contacts.list_duplicates(session, contact.id, limit=5, viewer=viewer):
        other = pair.b if pair.a.id == contact.id else pair.a
        duplicates.append(
            {
                "id": pair.id,
                "other_id": other.id,
                "other_name": display_name(other.name, other.id, t),
                "other_identities": [f"{i.value}" for i in other.identities][:3],
                "reason": pair.reason,
            }
        )
    return {
        "id": contact.id,
        "name": display_name(contact.name, contact.id, t),
        "initials": initials(display_name(contact.name, contact.id, t)),
        "color": avatar_color(contact.id),
        "kind": contact.kind,
        "kind_label": t.gettext("Client") if contact.kind == "client" else t.gettext("Lead"),
        "company": contact.company,
        "owner": owner,
        "tags": list(contact.tags or []),
        "source": t.channel(contact.source_channel),
        "created": clock.full(contact.created_at),
        "identities": [
            {
                "id": i.id,
                "kind": i.kind,
                "label": t.label(i18n.IDENTITIES, i.kind),
                "value": i.value,
                "typed": i.trust == "typed",
            }
            for i in contact.identities
        ],
        # The edit form's values: the stored ones, so a field left alone is sent back unchanged.
        "edit": {
            "name": contact.name or "",
            "company": contact.company or "",
            "owner_id": contact.owner_id,
            "tags": ", ".join(contact.tags or []),
            "custom_fields": list((contact.custom_fields or {}).items()),
        },
        "identity_kinds": [(kind, t.label(i18n.IDENTITIES, kind)) for kind in i18n.IDENTITIES],
        "conversations": [
            {
                "id": c.id,
                "channel_label": t.channel(c.channel_kind),
                "status": c.status,
                "status_label": t.status(c.status),
                "subject": c.subject,
                "when": clock.short(c.last_message_at or c.created_at),
            }
            for c in convs
            if c.id != current.id
        ],
        "duplicates": duplicates,
        "can_merge": viewer.role in ("supervisor", "admin"),
        **await card_tasks(session, viewer, contact.id, clock),
    }


CARD_TASKS = 20  # the open tasks a card lists


def _tel(phone: str | None) -> str | None:
    """A phone number as a tel: link takes it: digits and a leading plus."""
    if not phone:
        return None
    digits = "".join(c for c in phone if c.isdigit())
    return ("+" if phone.strip().startswith("+") else "") + digits if digits else None


def outcome_text(result: str | None, t: i18n.Texts) -> str | None:
    """A task's result as shown: a callback's outcome code ("no_answer: …") by its label."""
    if not result:
        return result
    code, sep, note = result.partition(":")
    if code in i18n.CALL_OUTCOMES:
        label = t.label(i18n.CALL_OUTCOMES, code)
        return f"{label}: {note.strip()}" if sep and note.strip() else label
    return result


async def task_rows(session: AsyncSession, viewer: Viewer, tasks: list[Task], clock: Clock) -> list[JSON]:
    """Tasks as a list shows them: client (and the conversation to open), assignee, due and created times,
    overdue or not, the result."""
    t = clock.t
    now = utcnow()
    details = await task_details(session, viewer, tasks)
    rows = []
    for task in tasks:
        detail = details[task.id]
        client = None
        if task.contact_id is not None:
            client = display_name(detail.contact_name, task.contact_id, t)
        rows.append(
            {
                "id": task.id,
                "title": task.title,
                "kind": task.kind,
                "kind_label": t.label(i18n.TASK_KINDS, task.kind),
                "status": task.status,
                "client": client,
                "phone": detail.phone,
                "tel": _tel(detail.phone),
                "conversation_id": detail.conversation_id,
                "assignee_id": task.assignee_id,
                "assignee": detail.assignee_name,
                "team": detail.team_name,
                "due": clock.full(task.due_at) if task.due_at else None,
                "due_iso": task.due_at.isoformat() if task.due_at else "",
                "overdue": task.status == "open" and task.due_at is not None and task.due_at < now,
                "created": clock.full(task.created_at),
                "closed": clock.full(task.closed_at) if task.closed_at else None,
                "result": outcome_text(task.result, t),
            }
        )
    return rows


async def card_tasks(session: AsyncSession, viewer: Viewer, contact_id: int, clock: Clock) -> JSON:
    """The card's open tasks and whom the viewer may give a new one to."""
    tasks = await list_tasks(
        session, viewer, TaskFilter(status="open", contact_id=contact_id), limit=CARD_TASKS
    )
    agents = await assignable_agents(session, viewer)
    return {
        "tasks": await task_rows(session, viewer, tasks, clock),
        "task_agents": [{"id": a.id, "name": a.name} for a in agents],
        "outcomes": [{"key": k, "label": clock.t.label(i18n.CALL_OUTCOMES, k)} for k in i18n.CALL_OUTCOMES],
    }


async def assignees(session: AsyncSession) -> tuple[list[JSON], list[JSON]]:
    """Active agents and teams, for the assign / transfer selects."""
    agents = await active_agents(session)
    teams = await list_teams(session)
    return (
        [{"id": a.id, "name": a.name} for a in agents],
        [{"id": team.id, "name": team.name} for team in teams],
    )


def list_html(rows: Sequence[JSON], view_query: str, t: i18n.Texts) -> Markup:
    """The `<li>` of each list row (:func:`list_rows`, with "sla" and "queue"), as the Jinja loop of
    templates/web/parts/list.html laid them out, byte for byte: formatted here rather than by Jinja, where
    100 rows of ~20 lookups, tests and escapes each were half of the /inbox page's time. Every value is
    escaped (markupsafe) but the ids and counts, which are ints; a label repeated on every row is escaped
    once."""
    # Pieces joined once: an f-string formats a Markup (a str subclass) at twice the cost of str.join.
    escaped: dict[str, str] = {}

    def label(text: str) -> str:
        found = escaped.get(text)
        if found is None:
            found = escaped[text] = str(escape(text))
        return found

    query = escape(view_query)
    row_head = f'  <li>\n    <a class="row{{}}" href="/inbox/{{}}?{query}" data-id="{{}}" data-open="{{}}">\n'
    you, unassigned = label(t.gettext("you")), label(t.gettext("unassigned"))
    unread_label = escape(t.gettext("Unread:"))  # outside the f-string: pybabel does not look inside one
    unread_prefix = f'<span class="sr-only">{unread_label} </span>'
    parts: list[str] = []
    add = parts.append
    extend = parts.extend
    for r in rows:
        id_ = str(int(r["id"]))
        unread = int(r["unread"])
        add(row_head.format(" unread" if unread else "", id_, id_, id_))
        extend(
            (
                '      <span class="avatar" style="--c: ',
                label(r["color"]),
                '" aria-hidden="true">',
                escape(r["initials"]),
                '</span>\n      <span class="row-main">\n        <span class="row-top">\n'
                '          <span class="name">',
                escape(r["name"]),
                "</span>\n",
            )
        )
        if unread:
            add(
                f'<span class="unread-count" title="{label(r["unread_title"])}">'
                f"{unread_prefix}{unread}</span>"
            )
        extend(
            (
                '          <time class="when" title="',
                label(r["when_full"]),
                '">',
                label(r["when"]),
                '</time>\n        </span>\n        <span class="preview">',
                escape(r["preview"]),
                '</span>\n        <span class="row-bottom">\n          <span class="chip ch-',
                label(r["channel"]),
                '">',
                label(r["channel_label"]),
                "</span>\n",
            )
        )
        status = r["status"]
        if status != "open":
            add(f'<span class="status s-{label(status)}">{label(r["status_label"])}</span>')
        assignee = you if r["mine"] else label(r["assignee"]) if r["assignee"] else unassigned
        add(f'          <span class="assignee">{assignee}</span>\n')
        if r["queue"]:
            extend(('<span class="queue-pos">', escape(r["queue"]), "</span>"))
        sla = r["sla"]
        if sla:
            breached = sla["breached"]
            extend(
                (
                    '<span class="sla sla-breached" data-sla="breached" title="'
                    if breached
                    else '<span class="sla" data-sla="due" title="',
                    escape(sla["title"]),
                    '"><time datetime="',
                    escape(sla["due_at"]),
                    '">',
                    escape(sla["label"]),
                    "</time></span>",
                )
            )
        waiting = int(r["waiting"])
        if waiting:
            add(f'<span class="badge" title="{label(r["waiting_title"])}">{waiting}</span>')
        add("        </span>\n      </span>\n    </a>\n  </li>\n")
    return Markup("".join(parts))
