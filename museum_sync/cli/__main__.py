"""``python -m museum_sync.cli``: the same as the ``museum-sync`` command."""

import sys

from museum_sync.cli import main

sys.exit(main())
