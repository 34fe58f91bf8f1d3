"""The web-chat widget's server side: its script and configuration, the visitor socket, visitor tokens,
abuse limits, what a visitor may read, and the relay of events to visitor sockets."""
