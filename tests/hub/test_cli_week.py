"""An independent scripted week through the `okno` command, as a new user runs it: a config file, `okno import
history`, `okno ingest sip` with an Asterisk Master.csv, then `okno report` — every figure worked out by hand.

The hub is in America/New_York; clocks go forward on Sun 8 March 2026 (EST −05:00 → EDT −04:00). Business
hours Mon–Fri 09:00–12:00 and 13:00–17:00 (a lunch gap), Friday 6 March a holiday; the team Sales also works
Sat 10:00–14:00. SLA: first response 60 min, next response 120 min, resolution 24 h on the wall clock; Sales
overrides: first response 30 min, and all its thresholds on its business-hours clock. Accounts: `shop` (API,
Support), `tg` (Telegram, Sales), `pbx` (SIP, Master.csv in New York time, DID +12125550100 = "Google Ads").
Agents anna, ben (Support), carla (Sales). Times are local; wall / business seconds. The file is imported
as an export in two parts (Monday, then the rest) by two runs, then whole again (nothing added).

* C1 (shop, Alice): Mon 2 10:00 in; 10:05 auto-reply (no reply); 10:40 Anna → FR 2400/2400. 11:50 and 11:55
  in (a burst: the wait counts from 11:50); 13:20 Ben → reply 5400 / 600+1200 = 1800 (lunch); 13:30 Anna
  again (no wait open: nothing). 14:00 resolved → 14400 / 7200+3600 = 10800. Tue 3 23:30 in: a reopening,
  on Tuesday (04:30 UTC Wednesday) at hour 23; Wed 09:15 Ben → FR 35100/900 (miss); 09:20 resolved 35400/1200.
* C4 (shop, Dave): Tue 3 15:00 in; 15:30 resolved by Ben without a reply → the FR and reply waits are
  neither counted nor hit nor missed; resolution 1800/1800. Thu 5 09:00 in (reopens); 10:00 Ben → FR
  3600/3600, exactly the threshold: a hit (≤). Never resolved again: its resolution wait is open → a miss.
* C5 (tg, Sales, Erin): Wed 4 11:45 in; 13:10 Carla → FR 5100 / 900+600 = 1500: a hit on Sales' business
  clock (30 min) though 85 min on the wall. 13:20 and 13:25 in; 16:00 Carla → reply 9600/9600 > 7200: miss.
  16:30 resolved → 17100 / 900+12600 = 13500.
* C2 (tg, Sales, Bob): Thu 5 16:50 in; 17:00 Carla's note (no reply); 17:10 transferred to Support; Mon 9
  09:10 (EDT) Anna → FR 314400 wall (3 d 16 h 20 min less the hour DST took) / Sales' calendar: Thu 600 +
  Fri holiday 0 + Sat 14400 + Mon 600 = 15600 → the figure is Sales' (the team of the wait's start): a miss.
  09:30 resolved → 315600 / 16800, within Sales' 24 business hours: a hit.
* C3 (shop, Carol, +12125550123): Sat 7 11:00 in, never answered: open FR, reply and resolution waits,
  each past due → three misses with no value.
Calls: K1 Mon 2 10:00 in answered (wait 30, talk 100); K2 Tue 3 14:00 in from +12125550122 missed (wait 25,
ends 14:00:25); K3 14:30 ext 101 calls it back, answered at 14:30:10 (talk 60) → callback 1785 s, on Tuesday;
K4 Sat 7 11:30 Carol calls, missed (wait 40), never called back; K5 Mon 9 09:05 K1's number again, answered
(wait 50, talk 150). Calls 5, inbound 4, answered 3, missed 2 (50 %); waits 30 25 40 50 → avg 36.25 (36.2),
median 35; talks 100 60 150 → avg 103.3, median 100.

first_response, ended (wall): 2400 3600 5100 35100 314400 → avg 360600/5 = 72120, median 5100, p90 at rank
0.9·4 = 3.6: 35100 + 0.6·279300 = 202680. Business: 900 1500 2400 3600 15600 → avg 4800, median 2400, p90
3600 + 0.6·12000 = 10800. SLA met C1a C4b C5, missed C1b C2 C3 → 3/3, 50 %. By team: Support 2400 3600
35100 → avg 13700, median 3600, p90 (rank 1.8) 3600 + 0.8·31500 = 28800, 2 met / 2 missed (C3); Sales 5100
314400 → avg 159750, p90 5100 + 0.9·309300 = 283470, 1/1. By day: Tue 3 holds the 23:30 wait (35100); Thu 5
314400 and 3600 → avg 159000, p90 3600 + 0.9·310800 = 283320; Sat 7 only C3's miss.
reply_time (wall): 2400 3600 5100 5400 9600 35100 314400 → sum 375600, avg 53657.1, median 5400, p90 (rank
5.4) 35100 + 0.4·279300 = 146820; business 900 1500 1800 2400 3600 9600 15600 → avg 35400/7 = 5057.1,
median 2400, p90 9600 + 0.4·6000 = 12000. SLA met C1 ×2, C4b, C5's first; missed C1b, C2, C3, C5's second
→ 4/4. By team: Sales 5100 9600 314400 → avg 109700, median 9600, p90 9600 + 0.8·304800 = 253440, 1 met / 2
missed (33.33 %); Support 2400 3600 5400 35100 → avg 11625, median 4500, p90 5400 + 0.7·29700 = 26190, 3/2.
In business hours: Sales 1500 9600 15600 → avg 8900, median 9600, p90 9600 + 0.8·6000 = 14400; Support 900
1800 2400 3600 → avg 2175, median 2100, p90 2400 + 0.7·1200 = 3240.
resolution (wall): 1800 14400 17100 35400 315600 → avg 76860, median 17100, p90 35400 + 0.6·280200 = 203520;
business 1200 1800 10800 13500 16800 → avg 8820, median 10800, p90 13500 + 0.6·3300 = 15480. SLA met 5,
missed 2 (C3, C4b open) → 71.43 %.
volume: new conversations 5 (a reopening is none), inbound 11, outbound 9 (the auto-reply is one; the note
none). By day: Mon 2 1/3/4, Tue 3 1/2/0, Wed 4 1/3/3, Thu 5 1/2/1, Sat 7 1/1/0, Mon 9 0/0/1.
leads: 7 new cards — api 3 (Alice, Dave, Carol), telegram 2 (Erin, Bob), sip 2 (the two new callers, from
"Google Ads"; Carol's call joins her card by phone). None became a client (the history format cannot say so).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.cli import main
from inbox.models import Agent, Team
from tests.hub.test_cli import CLI_CEILING, Run
from tests.waiting import resolved

CONFIG = """
first_response_sla_minutes = 60

[business_hours]
timezone = "America/New_York"
mon = "09:00-12:00,13:00-17:00"
tue = "09:00-12:00,13:00-17:00"
wed = "09:00-12:00,13:00-17:00"
thu = "09:00-12:00,13:00-17:00"
fri = "09:00-12:00,13:00-17:00"
holidays = ["2026-03-06"]

[business_hours.teams."Sales"]
sat = "10:00-14:00"

[sla]
first_response_minutes = 60
next_response_minutes = 120
resolution_minutes = 1440

[sla.teams."Sales"]
first_response_minutes = 30
business_hours = true

[accounts.shop]
kind = "api"
token_env = "OKNO_WEEK_SHOP_TOKEN"
team = "Support"

[accounts.tg]
kind = "telegram"
token_env = "OKNO_WEEK_TG_TOKEN"
mode = "polling"
team = "Sales"

[accounts.pbx]
kind = "sip"
source = "cdr_csv"
path = "Master.csv"
timezone = "America/New_York"
team = "Support"
did_sources = { "+12125550100" = "Google Ads" }
"""

ANNA, BEN, CARLA = "anna@example.com", "ben@example.com", "carla@example.com"


def at(day: int, hh: int, mm: int) -> str:
    """A local time of March 2026 in New York (EDT from Sunday the 8th)."""
    return f"2026-03-{day:02d}T{hh:02d}:{mm:02d}:00{'-04:00' if day >= 8 else '-05:00'}"


def inbound(conv: str, day: int, hh: int, mm: int, text: str, **first: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "conversation": conv,
        "direction": "in",
        "at": at(day, hh, mm),
        "text": text,
        **first,
    }


def reply(conv: str, agent: str, day: int, hh: int, mm: int, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "conversation": conv,
        "direction": "out",
        "agent": agent,
        "at": at(day, hh, mm),
        "text": text,
    }


def resolve(conv: str, agent: str, day: int, hh: int, mm: int) -> dict[str, Any]:
    return {"type": "resolve", "conversation": conv, "agent": agent, "at": at(day, hh, mm)}


WEEK = [
    inbound(
        "C1",
        2,
        10,
        0,
        "Where is my order?",
        account="shop",
        contact={"name": "Alice", "email": "alice@example.com"},
    ),
    {"type": "auto_reply", "conversation": "C1", "at": at(2, 10, 5), "text": "We got your message."},
    reply("C1", ANNA, 2, 10, 40, "It ships today."),
    inbound("C1", 2, 11, 50, "Which carrier?"),
    inbound("C1", 2, 11, 55, "Hello?"),
    reply("C1", BEN, 2, 13, 20, "UPS."),
    reply("C1", ANNA, 2, 13, 30, "The tracking number follows."),
    resolve("C1", ANNA, 2, 14, 0),
    inbound("C1", 3, 23, 30, "It has not come."),
    reply("C1", BEN, 4, 9, 15, "Checking with UPS."),
    resolve("C1", BEN, 4, 9, 20),
    inbound(
        "C4",
        3,
        15,
        0,
        "Cancel my order",
        account="shop",
        contact={"name": "Dave", "email": "dave@example.com"},
    ),
    resolve("C4", BEN, 3, 15, 30),
    inbound("C4", 5, 9, 0, "And the refund?"),
    reply("C4", BEN, 5, 10, 0, "Sent today."),
    inbound(
        "C5",
        4,
        11,
        45,
        "Price for 10 units?",
        account="tg",
        contact={"name": "Erin", "external_id": "tg:777"},
    ),
    reply("C5", CARLA, 4, 13, 10, "$90 each."),
    inbound("C5", 4, 13, 20, "And 20?"),
    inbound("C5", 4, 13, 25, "And shipping?"),
    reply("C5", CARLA, 4, 16, 0, "$85, shipping free."),
    resolve("C5", CARLA, 4, 16, 30),
    inbound(
        "C2", 5, 16, 50, "Wholesale terms?", account="tg", contact={"name": "Bob", "external_id": "tg:555"}
    ),
    {
        "type": "note",
        "conversation": "C2",
        "agent": CARLA,
        "at": at(5, 17, 0),
        "text": "Support does wholesale",
    },
    {"type": "assign", "conversation": "C2", "agent": None, "team": "Support", "at": at(5, 17, 10)},
    reply("C2", ANNA, 9, 9, 10, "The terms are attached."),
    resolve("C2", ANNA, 9, 9, 30),
    inbound(
        "C3", 7, 11, 0, "Are you open?", account="shop", contact={"name": "Carol", "phone": "+12125550123"}
    ),
]


def cdr(
    uid: str, src: str, dst: str, start: str, answer: str, end: str, billsec: int, disposition: str
) -> str:
    """One Master.csv line (18 columns: accountcode, src, dst, dcontext, clid, channel, dstchannel, lastapp,
    lastdata, start, answer, end, duration, billsec, disposition, amaflags, uniqueid, userfield)."""
    day = "2026-03-"
    inside = len(src) <= 5
    duration = int((datetime.fromisoformat(day + end) - datetime.fromisoformat(day + start)).total_seconds())
    fields = [
        "",
        src,
        dst,
        "from-internal" if inside else "from-trunk",
        f"<{src}>",
        f"SIP/{src if inside else 'trunk'}-{uid}",
        f"SIP/{'trunk' if inside else '101'}-{uid}" if answer else "",
        "Dial",
        "SIP/101",
        day + start,
        day + answer if answer else "",
        day + end,
        str(duration),
        str(billsec),
        disposition,
        "DOCUMENTATION",
        uid,
        "",
    ]
    return ",".join(f if i in (12, 13) else f'"{f}"' for i, f in enumerate(fields))  # numbers unquoted


# New York local times, as Asterisk writes them (the account's `timezone`).
CDR = "".join(
    line + "\n"
    for line in (
        cdr(
            "k1", "+12125550111", "+12125550100", "02 10:00:00", "02 10:00:30", "02 10:02:10", 100, "ANSWERED"
        ),
        cdr("k2", "+12125550122", "+12125550100", "03 14:00:00", "", "03 14:00:25", 0, "NO ANSWER"),
        cdr("k3", "101", "+12125550122", "03 14:30:00", "03 14:30:10", "03 14:31:10", 60, "ANSWERED"),
        cdr("k4", "+12125550123", "+12125550100", "07 11:30:00", "", "07 11:30:40", 0, "NO ANSWER"),
        cdr(
            "k5", "+12125550111", "+12125550100", "09 09:05:00", "09 09:05:50", "09 09:08:20", 150, "ANSWERED"
        ),
    )
)


def _okno(config: Path, args: tuple[str, ...]) -> Run:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--config", str(config), *args])
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def okno(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`okno ARGS` in this process (its own event loop in a thread), on the test database, in `tmp_path`."""
    config = tmp_path / "okno.toml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("OKNO_DATABASE_URL", database_url)
    monkeypatch.setenv("OKNO_ATTACHMENTS_DIR", str(tmp_path / "attachments"))
    monkeypatch.chdir(tmp_path)

    async def run(*args: str) -> Run:
        return await resolved(
            asyncio.to_thread(_okno, config, args), f"okno {' '.join(args)}", ceiling=CLI_CEILING
        )

    return run


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with sessionmaker() as session:
        session.add_all([Team(name="Support"), Team(name="Sales")])
        session.add_all(
            [
                Agent(email=email, name=email.split("@")[0].title(), password_hash="-")
                for email in (ANNA, BEN, CARLA)
            ]
        )
        await session.commit()


async def test_an_independent_week_through_the_cli(
    sessionmaker: async_sessionmaker[AsyncSession], okno: Any, tmp_path: Path
) -> None:
    await seed(sessionmaker)

    def jsonl(name: str, lines: list[dict[str, Any]]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        return path

    week = jsonl("week.jsonl", WEEK)
    (tmp_path / "Master.csv").write_text(CDR, encoding="utf-8")

    # Exported in two parts, imported by two runs: the second goes on with C1 (its KEY) from its reopening.
    monday = await okno("import", "history", str(jsonl("monday.jsonl", WEEK[:8])))
    assert (monday.code, json.loads(monday.lines[-1])) == (
        0,
        {"imported": 8, "already_imported": 0, "refused": 0},
    ), monday.err
    rest = await okno("import", "history", str(jsonl("rest.jsonl", WEEK[8:])))
    assert (rest.code, json.loads(rest.lines[-1])) == (
        0,
        {"imported": 19, "already_imported": 0, "refused": 0},
    ), rest.err
    again = await okno("import", "history", str(week))
    assert json.loads(again.lines[-1]) == {"imported": 0, "already_imported": 27, "refused": 0}  # the whole
    calls = await okno("ingest", "sip", "Master.csv")
    assert calls.code == 0, calls.err
    assert [json.loads(line)["duplicate"] for line in calls.lines] == [False] * 5

    async def report(name: str, *options: str) -> dict[Any, dict[str, Any]]:
        """The report's rows that hold something, by group (without the group)."""
        run = await okno("report", name, "--from", "2026-03-02", "--to", "2026-03-09", *options)
        assert run.code == 0, run.err
        printed = json.loads(run.out)
        assert printed["timezone"] == "America/New_York"
        rows = {}
        for row in printed["rows"]:
            group = row.pop("group")
            if any(
                v for k, v in row.items() if k in ("count", "sla_missed", "inbound", "new_leads", "outbound")
            ):
                rows[group] = row
        return rows

    def sla(met: int, missed: int, pct: float) -> dict[str, Any]:
        return {"sla_met": met, "sla_missed": missed, "sla_pct": pct}

    def fig(count: int, avg: float, median: float, p90: float) -> dict[str, Any]:
        return {"count": count, "avg": avg, "median": median, "p90": p90}

    # first_response
    assert await report("first_response") == {None: fig(5, 72120.0, 5100.0, 202680.0) | sla(3, 3, 50.0)}
    assert await report("first_response", "--business-hours") == {
        None: fig(5, 4800.0, 2400.0, 10800.0) | sla(3, 3, 50.0)
    }
    assert await report("first_response", "--by", "team") == {
        "Support": fig(3, 13700.0, 3600.0, 28800.0) | sla(2, 2, 50.0),
        "Sales": fig(2, 159750.0, 159750.0, 283470.0) | sla(1, 1, 50.0),  # C2 stays Sales' after the transfer
    }
    assert await report("first_response", "--by", "agent") == {
        ANNA: fig(2, 158400.0, 158400.0, 283200.0) | sla(1, 1, 50.0),
        BEN: fig(2, 19350.0, 19350.0, 31950.0) | sla(1, 1, 50.0),
        CARLA: fig(1, 5100.0, 5100.0, 5100.0) | sla(1, 0, 100.0),
        None: {"count": 0, "avg": None, "median": None, "p90": None} | sla(0, 1, 0.0),  # C3, never answered
    }
    days = await report("first_response", "--by", "day")
    assert days == {
        "2026-03-02": fig(1, 2400.0, 2400.0, 2400.0) | sla(1, 0, 100.0),
        "2026-03-03": fig(1, 35100.0, 35100.0, 35100.0) | sla(0, 1, 0.0),  # 23:30 on Tuesday, local
        "2026-03-04": fig(1, 5100.0, 5100.0, 5100.0) | sla(1, 0, 100.0),
        "2026-03-05": fig(2, 159000.0, 159000.0, 283320.0) | sla(1, 1, 50.0),
        "2026-03-07": {"count": 0, "avg": None, "median": None, "p90": None} | sla(0, 1, 0.0),
    }
    hours = await report("first_response", "--by", "hour")
    assert {hour: row["count"] for hour, row in hours.items()} == {9: 1, 10: 1, 11: 1, 16: 1, 23: 1}
    assert hours[11] == fig(1, 5100.0, 5100.0, 5100.0) | sla(1, 1, 50.0)  # C5, and C3's open miss
    assert await report("first_response", "--by", "channel") == {
        "api": fig(3, 13700.0, 3600.0, 28800.0) | sla(2, 2, 50.0),
        "telegram": fig(2, 159750.0, 159750.0, 283470.0) | sla(1, 1, 50.0),
    }

    # reply_time
    assert await report("reply_time") == {None: fig(7, 53657.1, 5400.0, 146820.0) | sla(4, 4, 50.0)}
    assert await report("reply_time", "--business-hours") == {
        None: fig(7, 5057.1, 2400.0, 12000.0) | sla(4, 4, 50.0)
    }
    assert await report("reply_time", "--by", "team") == {
        "Sales": fig(3, 109700.0, 9600.0, 253440.0) | sla(1, 2, 33.33),
        "Support": fig(4, 11625.0, 4500.0, 26190.0) | sla(3, 2, 60.0),
    }
    assert await report("reply_time", "--by", "team", "--business-hours") == {
        # Sales 1500 9600 15600 (its own calendar); Support 900 1800 2400 3600
        "Sales": fig(3, 8900.0, 9600.0, 14400.0) | sla(1, 2, 33.33),
        "Support": fig(4, 2175.0, 2100.0, 3240.0) | sla(3, 2, 60.0),
    }

    # resolution
    assert await report("resolution") == {None: fig(5, 76860.0, 17100.0, 203520.0) | sla(5, 2, 71.43)}
    assert await report("resolution", "--business-hours") == {
        None: fig(5, 8820.0, 10800.0, 15480.0) | sla(5, 2, 71.43)
    }
    assert await report("resolution", "--by", "team") == {
        "Sales": fig(2, 166350.0, 166350.0, 285750.0) | sla(2, 0, 100.0),
        "Support": fig(3, 17200.0, 14400.0, 31200.0) | sla(3, 2, 60.0),
    }

    # calls
    assert await report("calls") == {
        None: {
            "count": 5,
            "inbound": 4,
            "answered": 3,
            "missed": 2,
            "missed_pct": 50.0,
            "wait_avg": 36.2,
            "wait_median": 35.0,
            "talk_avg": 103.3,
            "talk_median": 100.0,
            "callbacks": 1,
            "callback_median": 1785.0,
            "callback_p90": 1785.0,
        }
    }
    by_day = await report("calls", "--by", "day")
    assert {day: (r["count"], r["answered"], r["missed"], r["callbacks"]) for day, r in by_day.items()} == {
        "2026-03-02": (1, 1, 0, 0),
        "2026-03-03": (2, 1, 1, 1),  # the missed call and its callback, 1785 s later
        "2026-03-07": (1, 0, 1, 0),  # Carol's, never called back
        "2026-03-09": (1, 1, 0, 0),
    }
    by_hour = await report("calls", "--by", "hour")
    assert {hour: r["count"] for hour, r in by_hour.items()} == {9: 1, 10: 1, 11: 1, 14: 2}

    # volume and leads
    assert await report("volume") == {None: {"new_conversations": 5, "inbound": 11, "outbound": 9}}
    volume = await report("volume", "--by", "day")
    assert {d: (r["new_conversations"], r["inbound"], r["outbound"]) for d, r in volume.items()} == {
        "2026-03-02": (1, 3, 4),
        "2026-03-03": (1, 2, 0),
        "2026-03-04": (1, 3, 3),
        "2026-03-05": (1, 2, 1),
        "2026-03-07": (1, 1, 0),
        "2026-03-09": (0, 0, 1),
    }
    assert await report("leads", "--by", "channel") == {
        "api": {"new_leads": 3, "became_clients": 0},
        "sip": {"new_leads": 2, "became_clients": 0},
        "telegram": {"new_leads": 2, "became_clients": 0},
    }
    assert await report("leads", "--by", "source") == {
        "Google Ads": {"new_leads": 2, "became_clients": 0},
        "api": {"new_leads": 3, "became_clients": 0},
        "telegram": {"new_leads": 2, "became_clients": 0},
    }

    # Excel's CSV: BOM, ';', one row per group
    excel = await okno(
        "report",
        "first_response",
        "--from",
        "2026-03-02",
        "--to",
        "2026-03-09",
        "--by",
        "team",
        "--format",
        "csv",
        "--delimiter",
        ";",
    )
    assert excel.code == 0 and excel.out.startswith("\ufeff"), excel.err
    rows = list(csv.DictReader(io.StringIO(excel.out.lstrip("\ufeff")), delimiter=";"))
    assert [(r["group"], r["count"], r["p90"], r["sla_pct"]) for r in rows] == [
        ("Sales", "2", "283470.0", "50.0"),
        ("Support", "3", "28800.0", "50.0"),
    ]


async def test_bad_lines_are_named_and_each_key_is_a_conversation_of_its_own(
    sessionmaker: async_sessionmaker[AsyncSession], okno: Any, tmp_path: Path
) -> None:
    """Alice writes twice in the other system — two tickets, C1 and C6, both open on `shop`: two
    conversations here too (they were one: C6's message joined C1, C1's reply ended C6's wait). She sends
    "?" twice in the same second: two lines alike, two messages (the second was taken for the first one
    imported again). The file is saved with a byte-order mark, as Notepad and PowerShell do.

    Its second line names no started conversation; its sixth, Dora's answer at 10:35, names an agent not
    created yet, so C1's next line (Anna at 10:40) is held back: once Dora exists, the file imported again
    gives C1's first response to Dora, 2100 s (Anna's line imported first had made it 2400 and Dora's
    answer none)."""
    await seed(sessionmaker)
    alice = {"name": "Alice", "email": "alice@example.com"}
    lines = [
        WEEK[0],  # C1 Mon 10:00
        reply("C9", "nobody@example.com", 2, 10, 0, "?"),
        inbound("C6", 2, 10, 20, "Also: the invoice?", account="shop", contact=alice),
        inbound("C1", 2, 10, 30, "?"),
        inbound("C1", 2, 10, 30, "?"),  # sent twice in the same second: two messages
        reply("C1", "dora@example.com", 2, 10, 35, "Looking."),
        WEEK[2],  # Anna answers C1 at 10:40
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8-sig")
    run = await okno("import", "history", str(path))
    assert run.code == 1
    assert run.err_lines == [
        f"{path}:2: conversation 'C9' has not started: its first line must be an inbound message "
        "with account and contact",
        f"{path}:6: agent: no agent with e-mail 'dora@example.com'",
        f"{path}:7: held back: {path}:6 of conversation 'C1' was refused (the lines after it wait for it: "
        "import the file again once it is fixed)",
    ]
    assert json.loads(run.lines[-1]) == {"imported": 4, "already_imported": 0, "refused": 3}
    async with sessionmaker() as session:
        session.add(Agent(email="dora@example.com", name="Dora", password_hash="-"))
        await session.commit()
    again = await okno("import", "history", str(path))
    assert json.loads(again.lines[-1]) == {"imported": 2, "already_imported": 4, "refused": 1}

    period = ("--from", "2026-03-02", "--to", "2026-03-02")
    volume = json.loads((await okno("report", "volume", *period)).out)["rows"]
    assert volume == [{"group": None, "new_conversations": 2, "inbound": 4, "outbound": 2}]
    first = json.loads((await okno("report", "first_response", *period, "--by", "agent")).out)["rows"]
    assert [row for row in first if row["count"] or row["sla_missed"]] == [
        {  # C1 answered by Dora in 35 min
            "group": "dora@example.com",
            "count": 1,
            "avg": 2100.0,
            "median": 2100.0,
            "p90": 2100.0,
            "sla_met": 1,
            "sla_missed": 0,
            "sla_pct": 100.0,
        },
        {  # C6, never answered: open past its hour, a miss
            "group": None,
            "count": 0,
            "avg": None,
            "median": None,
            "p90": None,
            "sla_met": 0,
            "sla_missed": 1,
            "sla_pct": 0.0,
        },
    ]
