"""``python -m helpers.sample``: see ``helpers.sample.cli``."""

from helpers.sample.cli import main

raise SystemExit(main())
