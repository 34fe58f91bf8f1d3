"""One search index per process, rebuilt when any process has changed a template.

Several hub processes stay consistent through the database: every template change writes a new random
`knowledge_state.generation` in its own transaction (:func:`inbox.knowledge.templates.bump_generation`);
before each search a process reads that one row by primary key and, if it differs from the generation its
index was built from, reloads the templates and rebuilds. A random token rather than a counter: a database
emptied and refilled (tests, a restore) can never come back to a generation an old index remembers.

The rows are read in a short transaction of their own; the index is built after it has ended, in a worker
thread (stemming a thousand templates is CPU work that must hold neither a transaction nor the event loop).
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from inbox.knowledge.search import SearchIndex
from inbox.knowledge.templates import generation, indexed
from inbox.models import Template


class IndexCache:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._index: SearchIndex | None = None
        self._generation: str | None = None
        self._lock = asyncio.Lock()
        self.builds = 0  # how many times the index was (re)built: for tests and the bench

    async def index(self) -> SearchIndex:
        """The current index: rebuilt if a template changed since it was built."""
        async with self._sessionmaker() as session:
            current = await generation(session)
        if self._index is not None and current == self._generation:
            return self._index
        async with self._lock:  # concurrent searches after a change rebuild once
            async with self._sessionmaker() as session:
                current = await generation(session)
                if self._index is not None and current == self._generation:
                    return self._index
                rows = [indexed(t) for t in await session.scalars(select(Template).order_by(Template.id))]
            # In a thread: a thousand templates take a few hundred ms to stem and index, which must not
            # stall every other request on the event loop.
            self._index = await asyncio.to_thread(SearchIndex.build, rows)
            self._generation = current
            self.builds += 1
            return self._index
