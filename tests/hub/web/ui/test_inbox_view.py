"""The list rows of the /inbox page as hub.web.ui.inbox_view.list_html lays them out: every client and agent
text escaped, and the markup byte for byte what templates/web/parts/list.html's Jinja loop made before."""

from __future__ import annotations

from typing import Any

from hub.web.ui import i18n
from hub.web.ui.inbox_view import list_html

FULL: dict[str, Any] = {
    "id": 7,
    "name": "Ann <b>&",
    "initials": "A<",
    "color": "#3b6fd8",
    "channel": "email",
    "channel_label": "E-mail",
    "status": "pending",
    "status_label": "Pending",
    "subject": "s",
    "preview": 'hi <script>"x"</script>',
    "when": "12:00",
    "when_full": "Today, 12:00",
    "waiting": 2,
    "waiting_title": "2 messages awaiting a reply",
    "unread": 3,
    "unread_title": "3 unread messages",
    "mine": False,
    "assignee": "Bob & <i>",
    "queue": "#2 <q>",
    "sla": {"breached": True, "title": "due <1>", "due_at": "2026-01-01T00:00:00+00:00", "label": "Overdue"},
}
BARE: dict[str, Any] = FULL | {"id": 8, "status": "open", "waiting": 0, "unread": 0, "mine": True}
BARE |= {"queue": None, "sla": None}


def test_list_rows_escape_client_text_and_keep_the_templates_markup() -> None:
    html = str(list_html([FULL, BARE], "queue=all&status=open", i18n.Texts("en")))

    assert html == (
        "  <li>\n"
        '    <a class="row unread" href="/inbox/7?queue=all&amp;status=open" data-id="7" data-open="7">\n'
        '      <span class="avatar" style="--c: #3b6fd8" aria-hidden="true">A&lt;</span>\n'
        '      <span class="row-main">\n        <span class="row-top">\n'
        '          <span class="name">Ann &lt;b&gt;&amp;</span>\n'
        '<span class="unread-count" title="3 unread messages"><span class="sr-only">Unread: </span>3</span>'
        '          <time class="when" title="Today, 12:00">12:00</time>\n        </span>\n'
        '        <span class="preview">hi &lt;script&gt;&#34;x&#34;&lt;/script&gt;</span>\n'
        '        <span class="row-bottom">\n          <span class="chip ch-email">E-mail</span>\n'
        '<span class="status s-pending">Pending</span>'
        '          <span class="assignee">Bob &amp; &lt;i&gt;</span>\n'
        '<span class="queue-pos">#2 &lt;q&gt;</span><span class="sla sla-breached" data-sla="breached"'
        ' title="due &lt;1&gt;"><time datetime="2026-01-01T00:00:00+00:00">Overdue</time></span>'
        '<span class="badge" title="2 messages awaiting a reply">2</span>        </span>\n'
        "      </span>\n    </a>\n  </li>\n"
        '  <li>\n    <a class="row" href="/inbox/8?queue=all&amp;status=open" data-id="8" data-open="8">\n'
        '      <span class="avatar" style="--c: #3b6fd8" aria-hidden="true">A&lt;</span>\n'
        '      <span class="row-main">\n        <span class="row-top">\n'
        '          <span class="name">Ann &lt;b&gt;&amp;</span>\n'
        '          <time class="when" title="Today, 12:00">12:00</time>\n        </span>\n'
        '        <span class="preview">hi &lt;script&gt;&#34;x&#34;&lt;/script&gt;</span>\n'
        '        <span class="row-bottom">\n          <span class="chip ch-email">E-mail</span>\n'
        '          <span class="assignee">you</span>\n        </span>\n'
        "      </span>\n    </a>\n  </li>\n"
    )
