"""``python -m helpers.train``: see ``helpers.train.cli``."""

from helpers.train.cli import main

raise SystemExit(main())
