"""The web pages' language: choosing it for a request, the strings of that language, the labels of codes.

Every string is a gettext message in ``hub/locale`` (see :mod:`hub.i18n`); the msgids are English. Codes the
domain stores (a channel kind, a status, an audit action …) get their label from the tables below: each entry
is marked with ``N_``/``NP_`` so that ``pybabel extract`` finds it, and translated when a page is rendered.
A label that needs a context (``pgettext``) has one because the same English word reads differently in
Russian elsewhere ("E-mail" the form field is «Эл. почта», the channel is «Почта»).

The order of preference: ``?lang=`` (a switch on the page), the agent's own setting, the browser's
Accept-Language, then the hub's ``[ui] language`` (Russian by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hub import i18n
from hub.i18n import DEFAULT, LANGUAGES, N_, NP_, Msg

__all__ = ["DEFAULT", "LANGUAGES", "Msg", "Texts", "choose"]


CHANNELS: Final = {
    "email": NP_("channel", "E-mail"),
    "telegram": NP_("channel", "Telegram"),
    "vk": NP_("channel", "VK"),
    "webchat": NP_("channel", "Web chat"),
    "sip": NP_("channel", "Phone"),
    "api": NP_("channel", "API"),
}
IDENTITIES: Final = {
    "email": NP_("identity", "E-mail"),
    "phone": NP_("identity", "Phone"),
    "telegram": NP_("identity", "Telegram"),
    "vk": NP_("identity", "VK"),
    "webchat": NP_("identity", "Website visitor"),
    "external": NP_("identity", "External ID"),
}
STATUSES: Final = {
    "open": NP_("status", "Open"),
    "pending": NP_("status", "Waiting for client"),
    "snoozed": NP_("status", "Snoozed"),
    "resolved": NP_("status", "Resolved"),
}
LISTS: Final = {
    "open": N_("Open conversations"),
    "pending": N_("Waiting for the client"),
    "snoozed": N_("Snoozed conversations"),
    "resolved": N_("Resolved conversations"),
    None: N_("All conversations"),
}
QUEUES: Final = {
    "mine": NP_("queue", "Mine"),
    "unassigned": NP_("queue", "Unassigned"),
    "teams": NP_("queue", "My teams"),
    "all": NP_("queue", "All"),
}
DELIVERY: Final = {
    "queued": NP_("delivery", "queued"),
    "sent": NP_("delivery", "sent"),
    "delivered": NP_("delivery", "delivered"),
    "failed": NP_("delivery", "failed"),
}
CALLS: Final = {
    "inbound": NP_("call", "Incoming call"),
    "outbound": NP_("call", "Outgoing call"),
    "internal": NP_("call", "Internal call"),
    "answered": NP_("call", "answered"),
    "missed": NP_("call", "missed"),
    "busy": NP_("call", "busy"),
    "failed": NP_("call", "failed"),
    "voicemail": NP_("call", "voicemail"),
}
ROLES: Final = {
    "agent": NP_("role", "agent"),
    "supervisor": NP_("role", "supervisor"),
    "admin": NP_("role", "administrator"),
}
# A channel account's state as hub.supervisor keeps it (the channels page).
CHANNEL_STATES: Final = {
    "running": NP_("channel state", "running"),
    "retrying": NP_("channel state", "reconnecting"),
    "auth_failed": NP_("channel state", "login refused"),
    "misconfigured": NP_("channel state", "misconfigured"),
    "stopped": NP_("channel state", "stopped"),
}
# Every action the audit log records (tests/hub/web/ui/test_i18n_catalogs.py finds them in the code).
AUDIT_ACTIONS: Final = {
    "login": NP_("audit action", "Sign-in"),
    "agent.create": NP_("audit action", "Agent created"),
    "agent.update": NP_("audit action", "Agent changed"),
    "agent.password_reset": NP_("audit action", "Password reset"),
    "agent.password_change": NP_("audit action", "Password changed"),
    "agent.deactivate": NP_("audit action", "Agent deactivated"),
    "agent.reactivate": NP_("audit action", "Agent reactivated"),
    "team.create": NP_("audit action", "Team created"),
    "team.update": NP_("audit action", "Team changed"),
    "token.create": NP_("audit action", "API token created"),
    "token.revoke": NP_("audit action", "API token revoked"),
    "contact.update": NP_("audit action", "Card changed"),
    "contact.merge": NP_("audit action", "Cards merged"),
    "contact.duplicate_dismissed": NP_("audit action", "Duplicate dismissed"),
    "identity.add": NP_("audit action", "Contact detail added"),
    "identity.remove": NP_("audit action", "Contact detail removed"),
    "conversation.assign": NP_("audit action", "Conversation assigned"),
    "conversation.status": NP_("audit action", "Conversation status changed"),
    "task.create": NP_("audit action", "Task created"),
    "task.update": NP_("audit action", "Task changed"),
    "template.create": NP_("audit action", "Template created"),
    "template.update": NP_("audit action", "Template changed"),
    "template.delete": NP_("audit action", "Template deleted"),
    "conversation.handover": NP_("audit action", "Conversation handed over"),
    "agent.availability": NP_("audit action", "Agent status changed"),
    "routing.rules": NP_("audit action", "Routing rules changed"),
    "routing.rule": NP_("audit action", "Routing rule applied"),
    "routing.auto_reply": NP_("audit action", "Auto-reply sent by a routing rule"),
    "routing.auto_reply_skipped": NP_("audit action", "Auto-reply of a routing rule skipped"),
    "team.routing": NP_("audit action", "Team routing changed"),
    "quarantine.retry": NP_("audit action", "Quarantined item retried"),
    "channel.test": NP_("audit action", "Channel connection tested"),
    "message.retry": NP_("audit action", "Failed reply sent again"),
}
AUDIT_RESULTS: Final = {
    "success": NP_("audit result", "Success"),
    "wrong_password": NP_("audit result", "Wrong password"),
    "unknown_account": NP_("audit result", "Unknown e-mail"),
    "inactive": NP_("audit result", "Agent deactivated"),
    "rate_limited": NP_("audit result", "Too many attempts"),
    "network_not_allowed": NP_("audit result", "Network not allowed"),
}
# The strings inbox.js shows (passed in the page's JSON data).
SCRIPT_STRINGS: Final = {
    "typing_client": N_("The client is typing…"),
    "connection_lost": N_("No connection to the server — reconnecting…"),
    "failed_action": N_("That did not work"),
    "reply_placeholder": N_("Reply to the client…"),
    "note_placeholder": N_("Internal note — the client never sees it…"),
    "send": N_("Send"),
    "add_note": N_("Save note"),
    # the knowledge base's suggestions above the reply box and its "/" search
    "kb_suggested": N_("Suggested replies"),
    "kb_no_results": N_("Nothing found"),
    "client_returned": N_("Your client wrote again"),
    # capabilities: the composer's file picker
    "attach_count": N_("Files: {n}"),
    "callback_created": N_("A callback task is created for you"),
    "task_created": N_("The task is created"),
    "task_closed": N_("The task is done"),
    "attach_too_large": N_("{name} is larger than this channel takes"),
    # the client card's edit mode and identities
    "card_field_name": N_("Field name"),
    "card_field_value": N_("Value"),
    "card_field_remove": N_("Remove the field"),
    "card_confirm_remove": N_("Remove {value} from the card?"),
}
# The strings templates.js (the /templates page) shows.
TEMPLATES_SCRIPT_STRINGS: Final = {
    "failed_action": N_("That did not work"),
    "kb_new": N_("New template"),
    "kb_uses": N_("Used"),
    "kb_personal_badge": NP_("template", "personal"),
    "kb_saved": N_("Saved"),
    # {title} is filled in by the script.
    "kb_confirm_delete": N_("Delete the template “{title}”?"),
}
# The strings tasks.js (the /tasks page) shows.
TASKS_SCRIPT_STRINGS: Final = {
    "failed_action": N_("That did not work"),
    "task_saved": N_("Saved"),
    "task_created": N_("The task is created"),
}
# A task's kind (inbox.tasks).
TASK_KINDS: Final = {
    "todo": NP_("task", "To-do"),
    "callback": NP_("task", "Callback"),
    "follow_up": NP_("task", "Follow-up"),
}
# The tabs of the tasks page (inbox.tasks.VIEWS).
TASK_VIEWS: Final = {
    "mine": NP_("tasks", "Mine"),
    "team": NP_("tasks", "My team's"),
    "overdue": NP_("tasks", "Overdue"),
    "done": NP_("tasks", "Done"),
}
# A callback's outcome: stored at the start of the task's result ("reached: …"), shown by its label.
CALL_OUTCOMES: Final = {
    "reached": NP_("outcome", "Reached"),
    "no_answer": NP_("outcome", "No answer"),
    "wrong_number": NP_("outcome", "Wrong number"),
    "other": NP_("outcome", "Other"),
}
# The header's availability switch (inbox.routing.availability).
AVAILABILITY: Final = {
    "online": NP_("availability", "Online"),
    "busy": NP_("availability", "Busy"),
    "offline": NP_("availability", "Offline"),
}
# An agent's presence on the routing board (inbox.routing.availability).
PRESENCE: Final = {
    "online": NP_("presence", "Active"),
    "away": NP_("presence", "Away"),
    "offline": NP_("presence", "No tab open"),
}
# A team's routing strategy (inbox.routing.strategies).
STRATEGIES: Final = {
    "round_robin": N_("Round robin"),
    "least_busy": N_("Least busy"),
    "manual": N_("Manual: agents take from the queue"),
}
# Routing's service note on the timeline, by the hand-over's reason (inbox.routing.router.hand_over).
HANDOVERS: Final = {
    None: N_("Handed over to another agent"),
    "answer_timeout": N_("Handed over to another agent: no answer in time"),
}
# A routing rule's auto-reply that was not sent, on the timeline (inbox.routing.auto_reply); %(rule)s is
# the rule's name, %(template)s the template's key.
AUTO_REPLY_SKIPS: Final = {
    "no_template": N_("Auto-reply of the rule “%(rule)s” not sent: there is no template “%(template)s”"),
    "cannot_send": N_("Auto-reply of the rule “%(rule)s” not sent: this channel cannot carry it"),
    "does_not_render": N_(
        "Auto-reply of the rule “%(rule)s” not sent: the template “%(template)s” does not render"
    ),
}


class Texts(i18n.Texts):
    """The strings of one page language, with the labels the pages show most."""

    def channel(self, kind: str | None) -> str:
        return self.label(CHANNELS, kind)

    def status(self, status: str | None) -> str:
        return self.label(STATUSES, status)

    def role(self, role: str | None) -> str:
        return self.label(ROLES, role)

    def availability(self, status: str | None) -> str:
        return self.label(AVAILABILITY, status)

    def handover(self, reason: str | None) -> str:
        """The service note of a hand-over; a reason without a label of its own reads as any hand-over."""
        return self.msg(HANDOVERS.get(reason) or HANDOVERS[None])

    def auto_reply_skipped(self, meta: Mapping[str, Any]) -> str:
        """The service note of a rule's auto-reply that was not sent, and why."""
        message = AUTO_REPLY_SKIPS.get(str(meta.get("skipped"))) or AUTO_REPLY_SKIPS["does_not_render"]
        return self.gettext(
            message.text, rule=str(meta.get("rule", "")), template=str(meta.get("template", ""))
        )

    def waited(self, seconds: float) -> str:
        """A wait as a person reads it: "7 min", "2 h 5 min"."""
        minutes = int(seconds // 60)
        if minutes < 60:
            return self.gettext("%(minutes)d min", minutes=minutes)
        return self.gettext("%(hours)d h %(minutes)d min", hours=minutes // 60, minutes=minutes % 60)

    def queue_place(self, position: int, waiting_seconds: float) -> str:
        """A waiting dialog's place in its team's queue and how long it has waited."""
        return self.gettext(
            "In the queue: #%(position)d, waiting %(wait)s",
            position=position,
            wait=self.waited(waiting_seconds),
        )


def choose(
    accept_language: str | None,
    *,
    explicit: str | None = None,
    preferred: str | None = None,
    default: str = DEFAULT,
) -> str:
    """The page language: `explicit` (?lang=), the agent's `preferred`, then Accept-Language, then `default`
    (the hub's ``[ui] language``, Russian unless configured)."""
    return i18n.negotiate(accept_language, choices=(explicit, preferred), default=default)
