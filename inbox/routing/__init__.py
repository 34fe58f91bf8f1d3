"""Routing: dialogs reach the right agent by themselves.

    availability.py  the status an agent sets (online / busy / offline) and the presence of their sockets
    capacity.py      how many open dialogs an agent may hold (their own, else the team's default) and holds
    strategies.py    who gets the next dialog: sticky owner, round robin, least busy, or nobody (manual)
    router.py        the decision in one transaction: a team's waiting dialogs, oldest first, to agents
    worker.py        runs the router after each ingest commit and whenever capacity may have freed
    reroute.py       the scheduler's job kind: an assignment with no human reply moves on (a hand-over)

Nothing lives in one process's memory: every decision reads and locks rows (the agents' rows FOR UPDATE
and the dialogs' rows FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock every SQLite transaction takes
at BEGIN IMMEDIATE), so two hub processes never exceed a capacity nor assign one dialog twice.
"""
