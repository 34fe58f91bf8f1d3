"""`python -m hub ...` is the `okno` command (useful where the console script is not on PATH)."""

from hub.cli import main

raise SystemExit(main())
