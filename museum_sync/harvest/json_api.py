"""Paged JSON API harvesting into a resumable, content-addressed JSON Lines snapshot.

Museum APIs page in one of three ways, and a profile's ``[harvest]`` table says which (see
``core/profiles/aic_artworks_api.toml`` for the Art Institute of Chicago shape):

- a next-page link in the body (``next_url = "pagination.next_url"``): followed until it is null;
- a page number (``page_param = "page"``) or an offset (``offset_param = "offset"``): counted up until a
  page is empty or shorter than ``page_size``. Used when the response has no next link at all.

Items are the array at ``items`` (a dotted path, ``""`` for a top-level array) and are written one per
line exactly as ``pipeline.extract`` writes a JSON document's items (compact, UTF-8), so harvesting pages
and extracting the same items from one file give the same snapshot bytes and the same export id.

Incremental harvests pass ``since``: it goes into ``since_param``, against ``since_url`` when the API
filters by date on another endpoint (AIC: the search endpoint), which may need the profile's field
names in ``since_fields_param`` to return whole records. (Deletions: museum JSON APIs list only what
exists; a full harvest replaces the set, so withdrawn records are found at publication.)

Incremental by default where it matters: ``incremental=True`` without ``since`` starts at the source's
high-water mark (``harvest.watermarks``: the previous harvest's start, less ``since_overlap_s`` for clock
skew), or harvests everything when there is none.

Credentials: the profile names a declared credential (``credential = "<NAME>"``, see ``harvest.auth``), sent
as a header (``auth_header``, ``auth_prefix``) or a query parameter (``auth_query_param``) to its origin
only. They are never written to a checkpoint or a manifest and are stripped from next links before
checkpointing. Next links stay on the harvest's origin (or one on ``MUSEUM_SYNC_HTTP_ALLOWED_ORIGINS``,
where no credential is sent); a link elsewhere fails the harvest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.http import REDACTED, BoundCredential, HttpClient, HttpError, HttpStats, get_client
from museum_sync.core import keys
from museum_sync.core.profiles import Profile
from museum_sync.harvest import watermarks
from museum_sync.harvest.auth import bind_credential, check_table, config_problems, credential_name
from museum_sync.harvest.snapshot import HarvestError, HarvestResult, PartialHarvest, recorded_url
from museum_sync.pipeline.profiles import load_profile
from museum_sync.redaction import redact
from museum_sync.settings import env_name, get_settings, origin_of

__all__ = ["JsonApiConfig", "harvest_json_api", "json_api_config"]


class JsonApiConfig(BaseModel):
    """A paged JSON API, as written in a profile's ``[harvest]`` table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Literal["json_api"] = "json_api"
    url: str
    params: dict[str, str] = Field(default_factory=dict)
    items: str = "data"
    next_url: str | None = "pagination.next_url"
    page_param: str | None = None
    first_page: int = 1
    offset_param: str | None = None
    page_size: int | None = Field(default=None, ge=1)  # a shorter page ends page/offset paging
    since_param: str | None = None
    since_url: str | None = None
    since_params: dict[str, str] = Field(default_factory=dict)
    since_fields_param: str | None = None
    since_overlap_s: float = Field(default=3600.0, ge=0.0)  # next since = start - this (clock skew)
    headers: dict[str, str] = Field(default_factory=dict)  # never Authorization/Cookie (core.profiles)
    credential: str | None = None  # a declared MUSEUM_SYNC_CREDENTIAL_<NAME>
    auth_env: str | None = None  # deprecated spelling: "MUSEUM_SYNC_CREDENTIAL_<NAME>" only
    auth_header: str = "Authorization"
    auth_prefix: str = ""
    auth_query_param: str | None = None
    page_delay: float = Field(default=0.0, ge=0.0)
    max_pages: int = Field(default=100_000, ge=1)
    profile: str | None = None
    chunk_size: int | None = Field(default=None, ge=1)
    max_partial_age_hours: float | None = Field(default=48.0, gt=0)
    max_bytes: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _safe(cls, data: Any) -> Any:
        return check_table(data)

    @field_validator("items")
    @classmethod
    def _items_path(cls, value: str) -> str:
        # Accept the profile's ijson spelling too ("data.item", "item").
        if value == "item":
            return ""
        return value.removesuffix(".item")


def json_api_config(profile: Profile | str | Path, **overrides: Any) -> JsonApiConfig:
    """The ``[harvest]`` table of a profile as a config (``profile`` defaults to the profile's name)."""
    loaded = profile if isinstance(profile, Profile) else load_profile(profile)
    if not loaded.harvest:
        raise HarvestError(f"profile {loaded.name} ({loaded.origin}) has no [harvest] table")
    data = dict(loaded.harvest)
    data.setdefault("profile", loaded.origin or loaded.name)  # the file itself: resolvable off the search path
    data.update(overrides)
    try:
        return JsonApiConfig.model_validate(data)
    except ValidationError as exc:
        raise HarvestError(f"{loaded.origin or loaded.name}: [harvest]: {config_problems(exc)}") from None


def _dig(doc: Any, path: str) -> tuple[bool, Any]:
    """(found, value) at a dotted path; an empty path is the document itself."""
    node = doc
    for part in path.split(".") if path else []:
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _strip_param(url: str, name: str | None) -> str:
    if not name:
        return url
    parsed = httpx.URL(url)
    if name not in parsed.params:
        return url
    return str(parsed.copy_remove_param(name))


def harvest_json_api(
    config: JsonApiConfig | Profile | str,
    store: ArtifactStore,
    *,
    source: str | None = None,
    since: str | None = None,
    incremental: bool = False,
    state_dir: Path | None = None,
    client: HttpClient | None = None,
    now: datetime | None = None,
) -> HarvestResult:
    """Harvest every page into ``<store>/snapshots/<export_id>/snapshot.jsonl``; resume a killed harvest.

    ``config`` is a ``JsonApiConfig`` or a profile (object, name or path) with a ``[harvest]`` table.
    ``source`` defaults to the profile name. ``since`` makes the harvest incremental; ``incremental``
    without ``since`` starts at the source's high-water mark (a full harvest when there is none, or when the
    API has no ``since_param``). A harvest that covered the mark moves it once its snapshot is published.
    """
    cfg = config if isinstance(config, JsonApiConfig) else json_api_config(config)
    if not cfg.profile:
        raise HarvestError(f"{redact(cfg.url, mask=REDACTED)}: name the mapping profile of this API (profile = ...)")
    profile_name = cfg.profile
    slug = keys.slug(source or Path(profile_name).stem)
    if since is not None and not cfg.since_param:
        raise HarvestError(f"{slug}: this API config has no since_param; it cannot harvest incrementally")
    scope = watermarks.scope_of(
        {
            "protocol": "json_api",
            "url": recorded_url(cfg.url),
            "since_url": recorded_url(cfg.since_url) if cfg.since_url else None,
            "since_param": cfg.since_param,
            "items": cfg.items,
        }
    )
    previous = watermarks.read_watermark(store, slug, scope)
    if since is None and incremental and cfg.since_param and previous is not None:
        since = previous.next_from
    client = client or get_client()
    stats = HttpStats()
    url = cfg.since_url if since is not None and cfg.since_url else cfg.url
    credential = bind_credential(
        credential_name(cfg.credential, cfg.auth_env),
        where=slug,
        urls=[url],
        header=cfg.auth_header,
        prefix=cfg.auth_prefix,
        query_param=cfg.auth_query_param,
    )
    headers = dict(cfg.headers)
    params = dict(cfg.params)
    if since is not None:
        params.update(cfg.since_params)
        assert cfg.since_param is not None
        params[cfg.since_param] = since
        if cfg.since_fields_param:
            loaded = load_profile(profile_name)
            if loaded.fields:
                params[cfg.since_fields_param] = ",".join(f.name for f in loaded.fields)
    harvest_params = {
        "url": recorded_url(url),
        "params": {k: v for k, v in params.items() if k != cfg.auth_query_param},
        "items": cfg.items,
        "since": since,
    }
    with PartialHarvest.resume_or_start(
        state_dir or store.root / "snapshots",
        source=slug,
        protocol="json_api",
        fmt="jsonl",
        params=harvest_params,
        max_age_hours=cfg.max_partial_age_hours,
    ) as partial:
        _Pager(cfg, partial, client, stats, url, params, headers, credential).run()
        started = datetime.fromisoformat(partial.checkpoint.started_at) - timedelta(seconds=cfg.since_overlap_s)
        next_from = started.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        result = partial.publish(
            store,
            kind="incremental" if since is not None else "full",
            profile=profile_name,
            chunk_size=cfg.chunk_size,
            harvest={"since_param": cfg.since_param},
            source_url=recorded_url(url),
            next_from=next_from,
            stats=stats,
            now=now,
        )
    # Published (or found nothing): only now may the mark move, and only when this harvest reached back to it.
    if cfg.since_param and watermarks.covers(since, previous):
        watermarks.write_watermark(
            store,
            source=slug,
            protocol="json_api",
            scope=scope,
            next_from=next_from,
            export_id=result.export_id,
            window_from=since,
        )
    return result


class _Pager:
    """Walks the pages from the checkpoint's cursor: ``{"url": ...}``, ``{"page": n}`` or ``{"offset": n}``."""

    def __init__(
        self,
        cfg: JsonApiConfig,
        partial: PartialHarvest,
        client: HttpClient,
        stats: HttpStats,
        url: str,
        params: dict[str, str],
        headers: dict[str, str],
        credential: BoundCredential | None,
    ) -> None:
        self.cfg, self.partial, self.client, self.stats = cfg, partial, client, stats
        self.url, self.params, self.headers, self.credential = url, params, headers, credential
        self.origin = origin_of(url)
        self.allowed = frozenset({self.origin, *get_settings().http.allowed_origin_set})

    def _request_for(self, cursor: Mapping[str, Any] | None) -> tuple[str, dict[str, str], BoundCredential | None]:
        """URL, parameters and credential of the next page (the credential only on its own origin)."""
        cfg = self.cfg
        if cursor and "url" in cursor:
            url, params = str(cursor["url"]), {}
            try:
                origin = origin_of(url)
            except ValueError as exc:
                raise HarvestError(
                    f"{self.partial.checkpoint.source}: next link {redact(url, mask=REDACTED)}: {exc}"
                ) from None
            if origin not in self.allowed:
                raise HarvestError(
                    f"{self.partial.checkpoint.source}: next link {redact(url, mask=REDACTED)} leaves {self.origin}; "
                    f"refusing to follow it (add {origin} to {env_name('http.allowed_origins')} to allow it)"
                )
            if self.url.startswith("https:") and not url.startswith("https:"):
                raise HarvestError(
                    f"{self.partial.checkpoint.source}: next link {redact(url, mask=REDACTED)} leaves https; "
                    "refusing to follow it"
                )
        else:
            url, params = self.url, dict(self.params)
            if cfg.page_param:
                params[cfg.page_param] = str(cursor["page"] if cursor else cfg.first_page)
            elif cfg.offset_param:
                params[cfg.offset_param] = str(cursor["offset"] if cursor else 0)
        credential = self.credential
        if credential is not None and origin_of(url) != credential.origin:
            credential = None  # an allow-listed origin gets the request, never the credential
        return url, params, credential

    def run(self) -> None:
        cfg, cp = self.cfg, self.partial.checkpoint
        fetched = 0
        while not cp.done:
            if cp.pages >= cfg.max_pages:
                raise HarvestError(f"{cp.source}: more than max_pages={cfg.max_pages} pages; raise it or check paging")
            cursor = cp.cursor
            url, params, credential = self._request_for(cursor)
            where = f"page {cp.pages + 1}"
            if fetched and cfg.page_delay:
                time.sleep(cfg.page_delay)
            try:
                response = self.client.get(
                    url,
                    params=params,
                    headers=self.headers,
                    expect="json",
                    stats=self.stats,
                    max_bytes=cfg.max_bytes,
                    credential=credential,
                )
            except HttpError as exc:
                raise HarvestError(
                    f"{cp.source}: {exc} at {where}; {cp.pages} page(s) are checkpointed, rerun to resume"
                ) from exc
            fetched += 1
            try:
                doc = json.loads(response.content)
            except (ValueError, UnicodeDecodeError) as exc:
                raise HarvestError(
                    f"{cp.source}: {response.url}: the body is not valid JSON ({exc}) at {where}"
                ) from None
            found, items = _dig(doc, cfg.items)
            if not found or not isinstance(items, list):
                keys = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
                raise HarvestError(
                    f"{cp.source}: {response.url}: no array at {cfg.items or '(top level)'!r} at {where}; found {keys}"
                )
            lines: list[bytes] = []
            for item in items:
                lines.append(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
            next_cursor = self._next(doc, items, cursor, response.url)
            self.partial.append_page(lines, cursor=next_cursor, done=next_cursor is None, stats=self.stats)

    def _next(
        self, doc: Any, items: list[Any], cursor: Mapping[str, Any] | None, current: str
    ) -> dict[str, Any] | None:
        cfg = self.cfg
        if cfg.next_url:
            found, link = _dig(doc, cfg.next_url)
            if found:
                if not link:
                    return None
                if not isinstance(link, str):
                    raise HarvestError(f"{self.partial.checkpoint.source}: {current}: {cfg.next_url} is not a URL")
                absolute = str(httpx.URL(current).join(link))
                stripped = _strip_param(absolute, cfg.auth_query_param)
                if cursor and cursor.get("url") == stripped:
                    raise HarvestError(f"{self.partial.checkpoint.source}: {current} links to itself as next page")
                return {"url": stripped}
        short = not items or (cfg.page_size is not None and len(items) < cfg.page_size)
        if short:
            return None
        if cfg.page_param:
            return {"page": int(cursor["page"] if cursor and "page" in cursor else cfg.first_page) + 1}
        if cfg.offset_param:
            return {"offset": int(cursor["offset"] if cursor and "offset" in cursor else 0) + len(items)}
        return None
