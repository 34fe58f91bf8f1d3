"""Managers' reports: the facts written when they happen (waits), and the figures read from them.

Definitions (docs/reports.md says the same, and tests pin each):

* A **cycle** starts with a conversation's first inbound message, or the first inbound message after it was
  resolved (a reopening). It ends when the conversation is resolved.
* A **human reply** is an outbound message written by an agent; notes, auto-replies, bot and system
  messages never are.
* **first_response**: per cycle, from its start to the first human reply, attributed to the agent who replied.
* **reply_time**: every wait of the client that ends in a human reply, the first response included: from the
  first inbound message after the previous human reply (or the cycle start) to the next human reply.
* **resolution**: per resolved cycle, from its start to the resolve.
* A figure belongs to the day (and hour) in which its wait started, in the configured time zone, and to the
  team the conversation belonged to then.
"""
