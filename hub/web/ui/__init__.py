"""The server-rendered pages: log-in, the agent inbox, the audit page, and their RU/EN strings."""
