"""Channel connectors: one package per channel, each building `inbox.items` and implementing `send`."""
