"""Dagster's console logger replaced by ours: a run's events in the one museum-sync format (``telemetry.logs``).

Dagster's supported way to choose how runs log is a logger definition (``@dg.logger``) given to ``Definitions``
as the default of every job. It keeps the name ``console`` and the same config (``log_level``, ``name``), so
run configs that set ``loggers.console`` (the CLI silences it unless ``--verbose``) mean what they did. Runs whose
config names no logger (UI launches, backfills) get it too (``dagster_internals.use_default_run_logger``). Each
line carries the run id, step key and partition from the record's Dagster metadata, and whatever a step bound
(``telemetry.logs.bound``: partition, export id). The Dagster UI's event log is unchanged.
"""

from __future__ import annotations

import logging

import dagster as dg

from museum_sync.defs.dagster_internals import use_default_run_logger
from museum_sync.telemetry import logs

__all__ = ["json_console_logger"]


@dg.logger(
    {
        "log_level": dg.Field(str, is_required=False, default_value="INFO", description="The logger's threshold."),
        "name": dg.Field(str, is_required=False, default_value="dagster", description="The logger's name."),
    },
    description="Run events as JSON lines (or a console line on a terminal), in museum-sync's one log format.",
)
def json_console_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    config = init_context.logger_config
    logger = logging.Logger(config["name"], level=logging.getLevelName(config["log_level"].upper()))
    logger.addHandler(logs.stream_handler())
    return logger


use_default_run_logger(json_console_logger)
