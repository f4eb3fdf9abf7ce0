"""Mapping profiles as the deployment configures them: the shipped ones plus ``MUSEUM_SYNC_PROFILE_PATH``.

``museum_sync.core.profiles`` reads no environment; this module passes it the configured folders
(``settings.paths.profile_dirs``), read on each call so a changed environment (CLI, tests) is seen at once.
Everything above the core (pipeline, harvest, defs, cli) loads profiles through here.
"""

from __future__ import annotations

from pathlib import Path

from museum_sync.core import profiles as core_profiles
from museum_sync.core.profiles import Profile
from museum_sync.settings import get_settings

__all__ = ["list_profiles", "load_profile", "profile_search_path"]


def profile_search_path() -> list[Path]:
    """Folders searched for ``<name>.toml``: ``MUSEUM_SYNC_PROFILE_PATH`` entries first, then shipped ones."""
    return core_profiles.profile_search_path(get_settings().paths.profile_dirs)


def list_profiles() -> list[str]:
    """Names of every profile on the configured search path (first one wins on a name clash)."""
    return core_profiles.list_profiles(get_settings().paths.profile_dirs)


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a profile by file path, or by name from the configured search path."""
    return core_profiles.load_profile(name_or_path, get_settings().paths.profile_dirs)
