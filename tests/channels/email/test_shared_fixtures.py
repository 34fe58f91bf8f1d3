"""Every real mail in ../shared/fixtures/email is ingested or refused with a one-line reason; none crashes."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import AccountContext, PayloadError
from channels.email.parse import parse_file
from inbox.ingest import IngestError, ingest
from inbox.items import InboundMessage
from inbox.models import ChannelAccount, Message
from inbox.policy import InboxPolicy
from tests.conftest import shared_fixture_dir

# What each real mail must come out as (kind, and a fact that shows it was read right).
EXPECTED: dict[str, tuple[str, str]] = {
    "alt_gmail_html_and_text.eml": ("message", "This is html and text message, thanks"),
    "attachment_png.eml": ("message", "heart.png"),
    "autoreply_auto_submitted.eml": ("auto_reply", "Auto-Submitted: auto-replied"),
    "autoreply_outlook_oof.eml": ("auto_reply", "out-of-office subject: Automatic reply: Nyaan"),
    "bounce_postfix_dsn.eml": ("bounce", "20170526150141.232.13312@example.zammad.loc"),
    "bounce_yandex_dsn_ru.eml": ("bounce", "Недоставленное сообщение"),
    "forward_rfc822_ru_subject.eml": ("message", "forwarded"),
    "html_only.eml": ("message", "This is html only mail"),
    "malformed_to_header.eml": ("message", "hey v, can i get some help over here?"),
    "reply_gmail_quoted_threading.eml": (
        "message",
        "Yes, I am providing you step how to reproduce this issue",
    ),
    "reply_outlook_aw_thread_index.eml": ("message", "Günther Katja | Example GmbH"),
    "reply_thunderbird.eml": ("message", "Hello"),
    "ru_koi8r_subject_body.eml": ("message", "Алфавит / Вопрос"),
    "ru_windows1251_subject_body.eml": ("message", "Алфавит / Вопрос"),
}


def facts(item: InboundMessage) -> str:
    """What the expectations above are looked up in."""
    parts = [
        item.text,
        item.subject or "",
        item.sender.name or "",
        f"{item.subject} / {item.text}",
        *(a.filename for a in item.attachments),
        *(str(v) for k, v in item.meta.items() if k in ("auto_reply", "bounce")),
        "forwarded" if item.meta.get("forwarded") else "",
    ]
    return "\n".join(parts)


async def test_every_shared_mail_is_ingested_or_refused_with_one_line(session: AsyncSession) -> None:
    directory: Path = shared_fixture_dir("email")
    account = ChannelAccount(name="support", kind="email")
    session.add(account)
    await session.commit()
    context = AccountContext(id=account.id, name=account.name, kind="email")
    files = sorted(p for p in directory.iterdir() if p.suffix in (".eml", ".mbox"))
    assert files, "no shared e-mail fixtures"
    outcomes: dict[str, list[str]] = {}
    for path in files:
        results: list[str] = []
        for entry in parse_file(path.read_bytes(), str(path), account=context):
            if isinstance(entry, PayloadError):
                results.append(f"refused: {entry}")
                continue
            try:
                result = await ingest(session, entry, InboxPolicy())
            except IngestError as exc:
                results.append(f"refused: {exc}")
                continue
            stored = await session.get_one(Message, result.message_id)
            assert stored.kind == entry.kind
            expected = EXPECTED.get(path.name)
            if expected is not None:
                kind, fact = expected
                assert entry.kind == kind, path.name
                assert fact in facts(entry), f"{path.name}: {fact!r} not in {facts(entry)!r}"
            results.append("ingested")
        outcomes[path.name] = results
    for name, results in outcomes.items():
        assert results, f"{name}: neither ingested nor refused"
        for outcome in results:
            assert "\n" not in outcome and len(outcome) < 400, f"{name}: {outcome!r}"
    # Files added later are held to "ingested or refused" above, without a pinned fact until one is added.
    assert set(EXPECTED) <= set(outcomes)
