"""One hub process for the concurrency test: ingests its share of dialogs with its own router running.

    python -m tests.inbox.routing.ingest_process DATABASE_URL ACCOUNT_ID FIRST COUNT

Each message comes from its own sender; the router is woken after every ingest commit, as in the hub.
"""

from __future__ import annotations

import asyncio
import sys

from hub import db
from inbox.ingest import IngestQueue
from inbox.routing.worker import RouterWorker
from tests.inbox.helpers import message


async def main(url: str, account_id: int, first: int, count: int) -> None:
    engine = db.create_engine(url)
    sessionmaker = db.sessionmaker(engine)
    router = RouterWorker(sessionmaker, idle_seconds=0.05)
    ingest = IngestQueue(sessionmaker, on_opened=router.wake, max_batch=10)
    await ingest.start()
    await router.start()
    try:
        items = [
            message(account_id, f"p{n}", ("email", f"c{n}@example.com")) for n in range(first, first + count)
        ]
        await asyncio.gather(*(ingest.submit(item) for item in items))
        while await router.run_once():  # what is left after the last commit
            pass
    finally:
        await router.stop()
        await ingest.stop()
        await engine.dispose()


if __name__ == "__main__":
    url, account, first, count = sys.argv[1:5]
    asyncio.run(main(url, int(account), int(first), int(count)))
