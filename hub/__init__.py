"""The hub: settings, database, event bus, web app and API, CLI, and the supervisor of channel connectors."""
