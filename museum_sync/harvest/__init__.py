"""Harvesting: paged JSON APIs and OAI-PMH (LIDO, oai_dc) into the same immutable snapshots as ``extract``.

A harvest writes ``<artifact root>/snapshots/<export_id>/`` (``snapshot.jsonl`` or ``snapshot.xmll``,
``manifest.json``, ``plan.json``), so ``pipeline.open_export`` and the chunk pipeline run on it unchanged.
Harvests are resumable (a killed one continues from its last checkpointed page), incremental (OAI
``from``/``until``, API ``since``; deletions listed in the manifest) and polite (one pooled client,
``Retry-After``, backoff with jitter, a User-Agent naming museum-sync). No Dagster here.

Safe by default: a profile names a declared credential, sent only to its origin (``auth``); redirects and
next links stay on the harvest's origin (``clients.http``); ``incremental=True`` starts where the last
successful harvest of the source ended (``watermarks``, ``<artifact root>/harvests/<source>.json``).
"""

from museum_sync.harvest.json_api import JsonApiConfig, harvest_json_api, json_api_config
from museum_sync.harvest.oai import (
    Identify,
    MetadataFormat,
    OaiConfig,
    OaiError,
    OaiProtocolError,
    OaiSet,
    format_datestamp,
    harvest_oai,
    identify,
    list_metadata_formats,
    list_sets,
    oai_config,
)
from museum_sync.harvest.snapshot import HarvestBusy, HarvestError, HarvestResult, PartialHarvest

__all__ = [
    "HarvestBusy",
    "HarvestError",
    "HarvestResult",
    "Identify",
    "JsonApiConfig",
    "MetadataFormat",
    "OaiConfig",
    "OaiError",
    "OaiProtocolError",
    "OaiSet",
    "PartialHarvest",
    "format_datestamp",
    "harvest_json_api",
    "harvest_oai",
    "identify",
    "json_api_config",
    "list_metadata_formats",
    "list_sets",
    "oai_config",
]
