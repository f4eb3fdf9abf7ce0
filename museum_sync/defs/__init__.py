"""Dagster wiring only, one module per role; the work itself is ``museum_sync.pipeline``'s.

- ``asset_keys``: every name Dagster stores (assets, checks, ops, jobs), spelled once.
- ``run_config``: the op configs and the run config the CLI, sensors and schedules build.
- ``steps``: the step bodies the assets and the bulk path's ops share, and the chunk fan-out.
- ``checks``: the blocking checks, their results and the metadata a steward reads.
- ``retries``: the RetryPolicy, and ``RETRY_TABLE``: which errors it may act on, and why.
- ``assets`` / ``jobs`` / ``sensors`` / ``schedules`` / ``partitions`` / ``resources``: the definitions.
- ``celery_config`` / ``executor`` / ``result_backend`` / ``worker_app``: the Celery side, one config
  for the executor and the workers.
- ``dagster_internals``: the only module that imports private Dagster/dagster-celery APIs, and why.
- ``library_warnings``: the one deliberate filter of a library warning, imported first by every entry point.

``museum_sync.definitions`` merges them into the code location. Importing this package imports nothing.
"""
