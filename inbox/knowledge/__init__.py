"""The knowledge base: reply templates (Jinja2 in a sandbox), their Russian/English search, and the
replies suggested for what a client wrote.

- :mod:`.text` turns text into search terms (snowball stems, stop words, the language of a text);
- :mod:`.search` ranks templates with BM25 over title, tags and body, tolerating typos and word forms;
- :mod:`.render` checks and renders a template body in a sandbox;
- :mod:`.templates` is the service that creates, edits, imports, deletes and counts uses of templates;
- :mod:`.index_cache` keeps one search index per process, rebuilt when any process changes a template;
- :mod:`.defaults` loads the shipped starter set; :mod:`.suggest` picks templates for a conversation.
"""
