"""Attachment bytes: stored once per content, written before the message that names them commits."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from inbox.blobs import BlobStore
from inbox.ingest import ingest
from inbox.items import IdentityRef, InboundAttachment, InboundMessage, Sender
from inbox.models import Attachment, ChannelAccount
from inbox.policy import InboxPolicy


async def test_same_bytes_are_stored_once(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    a = await store.put(b"%PDF-1.4 invoice")
    b = await store.put(b"%PDF-1.4 invoice")
    assert a == b == hashlib.sha256(b"%PDF-1.4 invoice").hexdigest()
    assert await store.get(a) == b"%PDF-1.4 invoice"
    assert len([p for p in tmp_path.rglob("*") if p.is_file()]) == 1
    with pytest.raises(ValueError, match="SHA-256"):
        store.path("../../etc/passwd")


async def test_ingest_stores_attachment_bytes_and_keeps_refused_ones_as_records(
    session: AsyncSession, api_account: ChannelAccount, tmp_path: Path
) -> None:
    item = InboundMessage(
        account_id=api_account.id,
        external_id="with-files",
        sender=Sender((IdentityRef("email", "a@mail.ru"),)),
        text="see attached",
        attachments=(
            InboundAttachment("счёт.pdf", "application/pdf", 16, content=b"%PDF-1.4 invoice"),
            InboundAttachment("huge.iso", "application/octet-stream", 10**10, refused="larger than 25 MB"),
        ),
    )
    await ingest(session, item, InboxPolicy(attachments_dir=tmp_path))
    rows = list(await session.scalars(select(Attachment).order_by(Attachment.id)))
    assert [(r.filename, r.size, r.refused) for r in rows] == [
        ("счёт.pdf", 16, None),
        ("huge.iso", 10**10, "larger than 25 MB"),
    ]
    assert rows[0].sha256 is not None
    assert await BlobStore(tmp_path).get(rows[0].sha256) == b"%PDF-1.4 invoice"
    assert rows[1].sha256 is None
