"""Benchmarks (run as scripts: `python bench/<name>.py`); a package so that they can share helpers and
mypy names them bench.<name> (bench/inbox.py would otherwise clash with the inbox package)."""
