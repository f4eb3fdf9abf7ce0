"""The one library warning museum-sync filters, and why; importing this module installs the filter.

Every process that loads the code location (``dagster dev``'s code server and daemon, a run worker, a Celery
worker child rebuilding a job, the CLI running one) imports ``museum_sync.definitions``, and every import of
the check specs goes through ``defs.jobs`` or ``museum_sync.definitions``: both import this module first (an
``import`` line sorts before the ``from`` lines), so the filter is in place before ``defs.checks`` builds them.

The other warnings users used to see are fixed where they came from, not filtered: dagster-celery's
``DuplicateTaskNameWarning`` (its step task was registered again on every submission; ``defs.executor``
registers it once per run) and Dagster's ``BetaWarning`` about sensor ``owners`` (Dagster rebuilt our sensors
to bind resources to their jobs; ``defs.jobs`` binds them on the jobs themselves). The test suite filters none
of the three (``pyproject.toml``), and ``museum_sync_tests/safety/test_startup_warnings.py`` starts a worker and
loads the code location to check that nothing prints.
"""

from __future__ import annotations

import warnings

import dagster as dg

# The chunk checks (``schema_drift``, ``record_validity``) are partitioned like the chunk asset they guard, so
# each chunk partition has its own verdict in the UI and a failed chunk blocks only itself. Dagster 1.13 marks
# ``AssetCheckSpec(partitions_def=...)`` as a preview feature and warns once per spec at import; there is no
# stable equivalent. The filter names that exact message and category, so any other preview warning still shows.
warnings.filterwarnings(
    "ignore",
    message=r"Specifying a partitions_def on an AssetCheckSpec is currently in preview",
    category=dg.PreviewWarning,
)
