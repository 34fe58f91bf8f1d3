"""The e-mail channel: IMAP IDLE in, SMTP out, threading by Message-ID and reply token, Russian mail.

``parse`` turns one mail into an InboundMessage, ``parse_file`` reads a .eml or an mbox for
``okno ingest email FILE``, and :class:`EmailConnector` (registered as kind "email") receives and sends.
"""

from channels.email.connector import EmailConnector
from channels.email.parse import ParseOptions, parse, parse_file

__all__ = ["EmailConnector", "ParseOptions", "parse", "parse_file"]
