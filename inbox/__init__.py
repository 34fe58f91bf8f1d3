"""The domain: client cards, conversations, messages, the ingest path and the outbox.

`inbox` imports neither `hub` nor `channels`: it defines the items that cross its border
(:mod:`inbox.items`) and the small protocols the others implement (:class:`inbox.bus.Publisher`,
:class:`inbox.items.Sender`).
"""

from inbox.ingest import IngestQueue, IngestResult, ingest

__all__ = ["IngestQueue", "IngestResult", "ingest"]
