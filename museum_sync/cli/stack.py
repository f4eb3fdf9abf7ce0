"""What a command runs on: services, environment and state directory, brought up and torn down together."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from museum_sync.settings import get_settings

__all__ = ["Context", "catalog", "quiet_library_warnings", "stack", "state_dir"]


@dataclass
class Context:
    env: dict[str, str]
    services: Any
    state_dir: Path


def state_dir(args: argparse.Namespace) -> Path:
    """``--state-dir``, else ``MUSEUM_SYNC_STATE_DIR`` (``settings.paths.state_dir``, default ``.state``).

    Resolved when a command runs, not when arguments are parsed, so a bad setting is the command's one-line
    error rather than a traceback from the parser."""
    return Path(args.state_dir) if args.state_dir else get_settings().paths.state_dir


@contextmanager
def stack(state: Path, *, fresh: bool = False) -> Iterator[Context]:
    """Services + environment for one command. ``fresh`` (the demo) also ignores an existing deployment's
    MUSEUM_SYNC_HOME / schema, so the demo never touches real state."""
    from museum_sync.runtime import configure_environment, runtime_env
    from museum_sync.services import start_services

    state = state.resolve()
    if fresh and state.exists():
        shutil.rmtree(state)
    state.mkdir(parents=True, exist_ok=True)
    with start_services(state) as services:
        # An existing deployment's state (artifact root, Dagster home, catalogue schema) wins over the defaults.
        if fresh:
            home, schema = state / "home", "catalog"
        else:
            settings = get_settings()
            home = settings.home if settings.is_set("paths.home") else state / "home"
            schema = settings.catalog_schema
        env = runtime_env(services, home, catalog_schema=schema)
        configure_environment(env)
        yield Context(env=env, services=services, state_dir=state)


def catalog() -> Any:
    """The catalogue the environment names, migrated (idempotent)."""
    from museum_sync.clients.catalog import Catalog

    settings = get_settings()
    client = Catalog(settings.pg_url, schema=settings.catalog_schema)
    client.migrate()
    return client


def quiet_library_warnings() -> None:
    """Silence library warnings that are noise on a terminal, before a command loads Dagster or Celery.

    dagster-celery re-registers its step task per submission (harmless), and the code location uses
    preview/beta Dagster features on purpose.
    """
    import warnings

    from celery.exceptions import DuplicateTaskNameWarning
    from dagster import BetaWarning, PreviewWarning

    warnings.filterwarnings("ignore", category=DuplicateTaskNameWarning)
    warnings.filterwarnings("ignore", category=BetaWarning)
    warnings.filterwarnings("ignore", category=PreviewWarning)
