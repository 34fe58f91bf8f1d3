"""E-mail benchmark: an mbox of N generated mails, parsed and ingested, against bare email.message_from_bytes.

    python bench/email.py                 # 10,000 mails, SQLite in a temp dir
    python bench/email.py -n 2000 --json  # machine-readable

The mails are a mix like a support mailbox's: Russian and English, UTF-8 / KOI8-R / windows-1251 with
RFC 2047 subjects, replies quoting their history (In-Reply-To / References to earlier mails), text+HTML
alternatives, HTML-only mail, small attachments, auto-replies and delivery reports, from a pool of returning
senders. They are written as one mbox, the way ``okno ingest email FILE.mbox`` gets them.

Three measurements over the same bytes, in one run:

* bare: ``email.message_from_bytes`` on each mail (the standard library's parser with its lazy default
  policy: no decoding of headers, bodies or attachments) — the floor;
* parse: ``channels.email.parse_file`` over the whole mbox (splitting it, decoding everything, HTML to
  text, quote folding, sanitizing, noise detection);
* parse + ingest: the same, each window of parsed mails handed to ``inbox.ingest.IngestQueue`` (group
  commit) on a migrated SQLite database (WAL, synchronous=FULL), as the CLI does.

Ratios are against the bare rate measured in the same run.
"""

from __future__ import annotations

import os
import sys

# `python bench/email.py` puts bench/ first on sys.path, where this file would shadow the standard
# library's `email` package: drop that entry before anything imports it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass  # noqa: E402
from email.message import EmailMessage  # noqa: E402
from email.parser import BytesParser  # noqa: E402
from email.utils import format_datetime, localtime  # noqa: E402
from pathlib import Path  # noqa: E402

from sqlalchemy import func, select  # noqa: E402

from channels.base import AccountContext, PayloadError  # noqa: E402
from channels.email.parse import parse_file, split_mbox  # noqa: E402
from hub import db  # noqa: E402
from inbox.ingest import IngestQueue  # noqa: E402
from inbox.items import InboundMessage  # noqa: E402
from inbox.models import ChannelAccount, Message  # noqa: E402
from inbox.policy import InboxPolicy  # noqa: E402

WINDOW = 500
SUBJECTS = (
    "Где мой заказ № {n}?",
    "Счёт на оплату за март",
    "Question about invoice #{n}",
    "Возврат товара",
    "Не работает личный кабинет",
    "Delivery address change",
)
TEXTS = (
    "Здравствуйте!\nПодскажите, пожалуйста, когда будет доставлен заказ № {n}?\n\nС уважением,\n{name}",
    "Hello,\ncould you send me the invoice for order #{n}, please?\n\nThanks,\n{name}",
    "Добрый день. Хочу изменить адрес доставки: ул. Ленина, д. {n}, кв. 5.\n{name}",
    "Не могу войти в личный кабинет, пишет «неверный пароль». Помогите!\n\n{name}",
)
NAMES = ("Ольга Смирнова", "Пётр Иванов", "Анна Кузнецова", "John Smith", "Мария Петрова", "Игорь Волков")


@dataclass(frozen=True, slots=True)
class Result:
    mails: int
    mbox_bytes: int
    bare_seconds: float
    bare_per_s: float
    parse_seconds: float
    parse_per_s: float
    ingest_seconds: float
    parse_ingest_per_s: float
    parse_vs_bare: float
    parse_ingest_vs_bare: float
    refused: int
    stored: int
    batches: int


def _mail(n: int, rng: random.Random, previous: list[str]) -> bytes:
    sender_no = rng.randrange(2000)
    name = NAMES[sender_no % len(NAMES)]
    address = f"client{sender_no}@example.ru"
    subject = SUBJECTS[n % len(SUBJECTS)].format(n=n)
    text = TEXTS[n % len(TEXTS)].format(n=n, name=name)
    msg = EmailMessage()
    kind = rng.random()
    charset = "utf-8"
    if kind < 0.10:
        charset = rng.choice(("koi8-r", "windows-1251"))
        legacy = str.maketrans({"№": "N", "«": '"', "»": '"'})  # not in KOI8-R
        text, subject = text.translate(legacy), subject.translate(legacy)
    msg["From"] = f"{name} <{address}>"
    msg["To"] = "support@example.com"
    msg["Date"] = format_datetime(localtime())
    msg["Message-ID"] = f"<bench-{n}@example.ru>"
    if previous and rng.random() < 0.4:
        parent = rng.choice(previous)
        msg["In-Reply-To"] = f"<{parent}>"
        msg["References"] = f"<{parent}>"
        subject = f"Re: {subject}"
        quoted = text.splitlines()[0]
        text += f"\n\nпн, 3 мар. 2025 г. в 10:00, Поддержка <support@example.com>:\n\n> {quoted}\n>\n"
    if 0.92 < kind < 0.96:
        msg["Auto-Submitted"] = "auto-replied"
        subject = f"Автоматический ответ: {subject}"
    msg["Subject"] = subject
    if charset != "utf-8":
        msg.set_content(text, charset=charset)
    elif kind < 0.30:
        msg.set_content(text)
        html = "".join(f"<p>{line}</p>" for line in text.splitlines() if line)
        msg.add_alternative(f"<html><body>{html}<script>x()</script></body></html>", subtype="html")
    elif kind < 0.40:
        html = "".join(f"<div>{line}</div>" for line in text.splitlines() if line)
        msg.set_content(f"<html><body>{html}</body></html>", subtype="html")
    else:
        msg.set_content(text)
    if 0.40 <= kind < 0.50:
        msg.add_attachment(
            rng.randbytes(rng.randrange(2_000, 20_000)),
            maintype="application",
            subtype="pdf",
            filename=f"Счёт {n}.pdf",
        )
    data = msg.as_bytes()
    if kind >= 0.96:
        data = _bounce(n, previous[-1] if previous else f"bench-{n - 1}@example.ru")
    return data


def _bounce(n: int, original: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\nTo: support@example.com\n"
        f"Subject: Undelivered Mail Returned to Sender\nMessage-ID: <bounce-{n}@mx.example.com>\n"
        'MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n"
        "--b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.com\n\n"
        "Final-Recipient: rfc822; gone@example.ru\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n\n"
        "--b\nContent-Type: text/rfc822-headers\n\n"
        f"Message-ID: <{original}>\nFrom: support@example.com\n\n--b--\n"
    ).encode()


def generate(n: int, seed: int) -> tuple[bytes, list[bytes]]:
    """An mbox of `n` mails, and the mails' own bytes (what the bare parser is given)."""
    rng = random.Random(seed)
    previous: list[str] = []
    mails: list[bytes] = []
    chunks: list[bytes] = []
    for i in range(n):
        data = _mail(i, rng, previous)
        previous.append(f"bench-{i}@example.ru")
        mails.append(data)
        escaped = b"\n".join(b">" + line if line.startswith(b"From ") else line for line in data.split(b"\n"))
        chunks.append(b"From bench@example.ru Mon Mar  3 10:00:00 2025\n" + escaped.rstrip(b"\n") + b"\n\n")
    return b"".join(chunks), mails


def bare(mails: list[bytes]) -> float:
    """``email.message_from_bytes`` on each mail (it is ``BytesParser().parsebytes``, called directly here
    because this file's name hides the ``email`` package from type checkers)."""
    parser = BytesParser()
    start = time.perf_counter()
    for data in mails:
        parser.parsebytes(data)
    return time.perf_counter() - start


def parse_only(mbox: bytes, account: AccountContext) -> tuple[float, int]:
    start = time.perf_counter()
    refused = sum(
        1 for item in parse_file(mbox, "bench.mbox", account=account) if isinstance(item, PayloadError)
    )
    return time.perf_counter() - start, refused


async def parse_and_ingest(mbox: bytes, directory: Path) -> tuple[float, int, int]:
    engine = db.create_engine(f"sqlite+aiosqlite:///{directory / 'bench.db'}")
    try:
        await db.migrate(engine)
        sessionmaker = db.sessionmaker(engine)
        async with sessionmaker() as session:
            row = ChannelAccount(name="bench-email", kind="email")
            session.add(row)
            await session.commit()
            account = AccountContext(id=row.id, name=row.name, kind="email")
        queue = IngestQueue(
            sessionmaker, policy=InboxPolicy(attachments_dir=directory / "attachments"), max_batch=WINDOW
        )
        await queue.start()
        start = time.perf_counter()
        window: list[InboundMessage] = []
        for item in parse_file(mbox, "bench.mbox", account=account):
            if isinstance(item, InboundMessage):
                window.append(item)
            if len(window) >= WINDOW:
                await asyncio.gather(*(queue.submit(i) for i in window))
                window = []
        if window:
            await asyncio.gather(*(queue.submit(i) for i in window))
        seconds = time.perf_counter() - start
        await queue.stop()
        async with sessionmaker() as session:
            stored = await session.scalar(select(func.count()).select_from(Message)) or 0
        return seconds, stored, queue.batches
    finally:
        await engine.dispose()


def bench(n: int, seed: int) -> Result:
    mbox, mails = generate(n, seed)
    assert len(list(split_mbox(mbox))) == n
    account = AccountContext(id=1, name="bench-email", kind="email")
    bare_seconds = min(bare(mails) for _ in range(2))
    parse_seconds, refused = parse_only(mbox, account)
    with tempfile.TemporaryDirectory(prefix="okno-bench-email-") as tmp:
        ingest_seconds, stored, batches = asyncio.run(parse_and_ingest(mbox, Path(tmp)))
    bare_rate = n / bare_seconds
    parse_rate = n / parse_seconds
    total_rate = n / ingest_seconds
    return Result(
        mails=n,
        mbox_bytes=len(mbox),
        bare_seconds=round(bare_seconds, 3),
        bare_per_s=round(bare_rate, 1),
        parse_seconds=round(parse_seconds, 3),
        parse_per_s=round(parse_rate, 1),
        ingest_seconds=round(ingest_seconds, 3),
        parse_ingest_per_s=round(total_rate, 1),
        parse_vs_bare=round(parse_rate / bare_rate, 4),
        parse_ingest_vs_bare=round(total_rate / bare_rate, 4),
        refused=refused,
        stored=stored,
        batches=batches,
    )


def table(r: Result) -> str:
    return "\n".join(
        [
            f"mbox: {r.mails} mails, {r.mbox_bytes / 1e6:.1f} MB",
            f"bare email.message_from_bytes : {r.bare_per_s:>9.0f} mails/s  ({r.bare_seconds:.2f} s)",
            f"parse (channels.email)        : {r.parse_per_s:>9.0f} mails/s  ({r.parse_seconds:.2f} s)"
            f"  = {r.parse_vs_bare:.3f} × bare",
            f"parse + ingest (SQLite)       : {r.parse_ingest_per_s:>9.0f} mails/s"
            f"  ({r.ingest_seconds:.2f} s)"
            f"  = {r.parse_ingest_vs_bare:.3f} × bare",
            f"stored {r.stored}, refused {r.refused}, {r.batches} ingest transactions",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=10_000, help="mails in the mbox (default 10000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    result = bench(args.n, args.seed)
    print(json.dumps(asdict(result)) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
