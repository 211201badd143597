"""``python -m portscope``: the same as the ``portscope`` command."""

from portscope.cli import main

raise SystemExit(main())
