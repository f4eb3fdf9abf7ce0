"""IIIF manifests over HTTP: the fetcher (``fetcher``); validation is pure, in ``museum_sync.core.iiif``."""

from __future__ import annotations

from museum_sync.clients.iiif.fetcher import ACCEPT, FetchResult, IiifFetcher, close_fetcher, get_fetcher

__all__ = ["ACCEPT", "FetchResult", "IiifFetcher", "close_fetcher", "get_fetcher"]
