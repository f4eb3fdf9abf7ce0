"""What a command runs on: services, environment and state directory, brought up and torn down together.

Settings are checked before anything starts (``check_settings``): a bad ``MUSEUM_SYNC_*`` value, or search
settings the client would refuse, is the command's one-line error, not a traceback from a worker.

The demo runs only on what it owns. ``stack(state, demo=True)`` removes from this process's environment every
variable that says where data lives or goes (PostgreSQL, Redis, Elasticsearch, folders: ``PLACEMENT_GROUPS``),
so it starts embedded PostgreSQL and Redis in its own state folder, never talks to Elasticsearch, and keeps its
catalogue in the scratch schema ``museum_sync_demo``. Its folder carries a marker (``DEMO_MARKER``): the demo
wipes only a folder that has it (or is new or empty), and any command given that folder (``museum-sync
--state-dir .state/demo status``) runs on the demo's services and schema in the same way.

Beside a running ``museum-sync dev``: dev holds its state folder's embedded PostgreSQL and Redis (their
directory locks) and writes where they listen to ``<state>/dev-services.json`` (``ATTACH_FILE``) while it
runs. Any other command given that folder attaches to those servers instead of starting its own (``museum-sync
--state-dir .state/demo status``, ``quarantine list``, ``sync``), and says so; the file goes when dev stops, and
a file whose dev is gone is ignored.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from museum_sync.core.exceptions import MuseumSyncError
from museum_sync.settings import (
    PathSettings,
    PostgresSettings,
    RedisSettings,
    SearchSettings,
    Settings,
    SettingsError,
    SettingsGroup,
    env_name,
    get_settings,
)

__all__ = [
    "ATTACH_FILE",
    "DEMO_MARKER",
    "DEMO_SCHEMA",
    "DEMO_STATE",
    "Context",
    "catalog",
    "check_settings",
    "attached_services",
    "is_demo_state",
    "load_code_location",
    "publish_services",
    "quiet_library_warnings",
    "stack",
    "state_dir",
]

DEMO_SCHEMA = "museum_sync_demo"
DEMO_STATE = Path(".state/demo")
DEMO_MARKER = ".museum-sync-demo"
ATTACH_FILE = "dev-services.json"
# What the demo never reads from the environment: where the catalogue, broker, search and files live.
PLACEMENT_GROUPS: tuple[type[SettingsGroup], ...] = (PostgresSettings, RedisSettings, SearchSettings, PathSettings)
# A demo folder written before the marker existed: only the demo writes its sample exports there.
_LEGACY_DEMO_FILE = Path("home") / "samples" / "tate_export_night1.csv"


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


def is_demo_state(state: Path) -> bool:
    """Whether ``state`` is a demo's folder (its marker, or the sample exports an older demo left there)."""
    return (state / DEMO_MARKER).is_file() or (state / _LEGACY_DEMO_FILE).is_file()


def placement_variables() -> list[str]:
    """Every variable naming a server, schema or folder (``PLACEMENT_GROUPS``), in settings order."""
    return [group.env_name(field) for group in PLACEMENT_GROUPS for field in group.model_fields]


def _isolate_demo() -> list[str]:
    """Remove the placement variables from this process's environment (the workers inherit it); the names of
    those that were set, for the one line that says they are ignored."""
    ignored = [name for name in placement_variables() if (os.environ.get(name) or "").strip()]
    for name in placement_variables():
        os.environ.pop(name, None)
    return ignored


def _fresh_demo_folder(state: Path) -> None:
    """Empty ``state`` for a new demo run: only a demo's folder, or a new or empty one, is ever wiped."""
    if state.exists():
        if not state.is_dir():
            raise MuseumSyncError(f"{state}: not a folder; give the demo a new or empty folder with --state-dir")
        if any(state.iterdir()) and not is_demo_state(state):
            raise MuseumSyncError(
                f"{state} is not a demo folder (no {DEMO_MARKER} in it) and not empty: the demo empties its folder"
                " on every run, so it will not use this one; give --state-dir a new or empty folder"
            )
        shutil.rmtree(state)
    state.mkdir(parents=True)
    (state / DEMO_MARKER).write_text(
        "museum-sync demo: this folder is emptied by the next `museum-sync demo` run that names it\n", encoding="utf-8"
    )


def check_settings() -> Settings:
    """Every setting this process will use, checked before anything starts; ``SettingsError`` (one line) if not.

    The search settings are checked the way the client checks them when a step first indexes (credentials,
    alias and index names, the CA bundle), so a mistake there is not a failed run in a worker's log.
    """
    settings = get_settings()
    search = settings.search
    if search.url is None:
        return settings
    search.credentials()  # raises SettingsError naming the variables
    if search.ca_certs and not Path(search.ca_certs).is_file():
        raise SettingsError(f"{env_name('search.ca_certs')}={search.ca_certs!r}: no such file (a CA bundle)")
    from museum_sync.clients.search import SearchClient

    try:
        client = SearchClient.from_env()
    except ValueError as exc:
        names = (
            f"{env_name('search.alias')}={search.alias!r}, {env_name('search.index_prefix')}={search.index_prefix!r}"
        )
        raise SettingsError(f"{names}: {exc}") from None
    if client is not None:
        client.close()
    return settings


@contextmanager
def stack(state: Path, *, demo: bool = False) -> Iterator[Context]:
    """Services + environment for one command.

    ``demo``: a fresh demo run in ``state`` (see the module docstring). A ``state`` that is a demo's folder is
    run on the same way, without emptying it.
    """
    from museum_sync.runtime import configure_environment, runtime_env
    from museum_sync.services import start_services

    state = state.resolve()
    isolated = demo or is_demo_state(state)
    if isolated:
        ignored = _isolate_demo()
        if ignored:
            print(f"demo: ignoring {', '.join(ignored)}: the demo runs only on its own embedded services and folder")
    attached = None if demo else attached_services(state)
    if attached is not None:
        os.environ.update(attached["env"])
        print(f"attached to the services of museum-sync dev (pid {attached['pid']}) in {state}: {attached['ui']}")
    check_settings()
    if demo:
        _fresh_demo_folder(state)
    state.mkdir(parents=True, exist_ok=True)
    with start_services(state) as services:
        if isolated and attached is None:
            if not (services.pg_embedded and services.redis_embedded):  # _isolate_demo removed the URLs
                raise MuseumSyncError("the demo must run on embedded PostgreSQL and Redis, and was given servers")
            home, schema = state / "home", DEMO_SCHEMA
        else:
            # An existing deployment's state (artifact root, Dagster home, catalogue schema) wins over the defaults.
            settings = get_settings()
            home = settings.home if settings.is_set("paths.home") else state / "home"
            schema = settings.catalog_schema
        env = runtime_env(services, home, catalog_schema=schema)
        configure_environment(env)
        yield Context(env=env, services=services, state_dir=state)


def attached_services(state: Path) -> dict[str, Any] | None:
    """What ``museum-sync dev`` running on ``state`` published (``ATTACH_FILE``), or None: no file, or its dev
    is gone (a killed dev leaves the file; its pid is checked)."""
    path = state / ATTACH_FILE
    try:
        published = json.loads(path.read_text(encoding="utf-8"))
        os.kill(int(published["pid"]), 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return published if isinstance(published.get("env"), dict) else None


@contextmanager
def publish_services(ctx: Context, ui: str) -> Iterator[Path]:
    """While dev runs: tell other commands on its state folder where its servers listen (``ATTACH_FILE``,
    readable by this account only: it names the servers, whose embedded ones trust local connections)."""
    path = ctx.state_dir / ATTACH_FILE
    payload = {"pid": os.getpid(), "ui": ui, "env": ctx.services.as_env()}
    fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1)
    path.with_suffix(".tmp").replace(path)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


def catalog() -> Any:
    """The catalogue the environment names, migrated (idempotent)."""
    from museum_sync.clients.catalog import Catalog

    settings = get_settings()
    client = Catalog(settings.pg_url, schema=settings.catalog_schema)
    client.migrate()
    return client


def load_code_location() -> None:
    """Import the Dagster code location now, before workers start: a setting it reads as it loads (a schedule's
    cron or time zone) fails here as the command's one-line error, not in every worker."""
    import museum_sync.definitions  # noqa: F401


def quiet_library_warnings() -> None:
    """Install the one library-warning filter museum-sync needs (``museum_sync.defs.library_warnings``, which
    says why) before a command loads the code location. The other warnings are fixed at their cause."""
    import museum_sync.defs.library_warnings  # noqa: F401
