"""OAI-PMH harvesting (LIDO or oai_dc) into a resumable, content-addressed snapshot.

The protocol as museum-sync uses it:

- ``Identify`` first: its ``granularity`` decides how ``from``/``until`` are written (``YYYY-MM-DD`` or
  ``YYYY-MM-DDThh:mm:ssZ``; a repository must reject the finer form if it only knows days). The
  ``responseDate`` of the first ListRecords page becomes ``next_from`` for the next incremental
  harvest: the repository's clock, not ours. It is kept as the source's high-water mark
  (``harvest.watermarks``); ``incremental=True`` without a ``from`` starts there.
- ``ListMetadataFormats`` (unless ``check_format=False``): a prefix the repository does not offer fails
  before any record is requested, naming the prefixes it does offer.
- ``ListRecords`` with ``metadataPrefix``, optional ``set``/``from``/``until``, then ``resumptionToken``
  until a page has none (or an empty one). Every page is checkpointed (``snapshot.PartialHarvest``).
- OAI errors: ``noRecordsMatch`` is an empty harvest (no export, ``export_id=None``);
  ``badResumptionToken`` (the token expired while we were away, or the server restarted) restarts the
  list from its first request, the last point that needs no token, at most ``max_restarts`` times;
  every other code (``badArgument``, ``cannotDisseminateFormat``, ``noSetHierarchy``...) is an
  ``OaiError`` naming the code, the server's message and the (redacted) URL.
- Deleted records (``header status="deleted"``) are collected as deletions: their OAI identifiers go
  to ``deleted_ids`` in the manifest for incremental publication; they add no line to the snapshot.

Credentials: ``credential = "<NAME>"`` (``harvest.auth``), sent only to ``base_url``'s origin.

All XML goes through ``core.lido``'s safe parser (no DTD, no network, no entity substitution; documents
declaring entities are refused), so an entity-expansion or external-entity response fails the harvest
before anything is expanded or fetched. Records are serialised one per line exactly as
``core.lido.iter_lido_elements`` does, so a harvested snapshot and an extracted ListRecords file with the
same records have the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from lxml import etree
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.http import (
    REDACTED,
    BoundCredential,
    HttpClient,
    HttpError,
    HttpResponse,
    HttpStats,
    body_snippet,
    get_client,
)
from museum_sync.core.exceptions import SourceError
from museum_sync.core.keys import slug
from museum_sync.core.lido import (  # the one safe parse (entities refused), shared on purpose
    OAI_NS,
    iter_oai_records,
    parse_xml_bytes,
)
from museum_sync.core.profiles import Profile
from museum_sync.harvest import watermarks
from museum_sync.harvest.auth import bind_credential, check_table, config_problems, credential_name
from museum_sync.harvest.snapshot import HarvestError, HarvestResult, PartialHarvest, recorded_url
from museum_sync.pipeline.profiles import load_profile
from museum_sync.redaction import redact

__all__ = [
    "DAY",
    "SECONDS",
    "Identify",
    "MetadataFormat",
    "OaiConfig",
    "OaiError",
    "OaiProtocolError",
    "OaiSet",
    "format_datestamp",
    "harvest_oai",
    "identify",
    "list_metadata_formats",
    "list_sets",
    "oai_config",
]

DAY = "YYYY-MM-DD"
SECONDS = "YYYY-MM-DDThh:mm:ssZ"
_O = "{" + OAI_NS + "}"
# OAI-PMH puts protocol errors in the body; some servers send them with a 4xx status.
_OAI_ERROR_STATUSES = (400, 404, 422)
_DEFAULT_PROFILES = {"lido": "lido_xml"}


class OaiError(HarvestError):
    """The repository answered with an OAI-PMH ``<error code=...>``."""

    def __init__(self, code: str, message: str, url: str, response_date: str | None = None) -> None:
        super().__init__(f"{url}: OAI-PMH error {code}{': ' + message if message else ''}")
        self.code = code
        self.message = message
        self.url = url
        self.response_date = response_date  # the repository's clock (noRecordsMatch still moves the mark)


class OaiProtocolError(HarvestError):
    """The response is not a usable OAI-PMH document (not XML, refused XML, wrong root, missing parts)."""


class OaiConfig(BaseModel):
    """What to harvest and how. ``from``/``until`` accept dates, datetimes or OAI datestamp strings."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    protocol: str = Field(default="oai-pmh", pattern=r"^oai-pmh$")
    base_url: str
    metadata_prefix: str = "lido"
    set_spec: str | None = Field(default=None, alias="set")
    from_: datetime | date | str | None = Field(default=None, alias="from")
    until: datetime | date | str | None = None
    # Mapping profile named in the manifest (validation loads it); "lido_xml" for metadataPrefix lido.
    profile: str | None = None
    chunk_size: int | None = Field(default=None, ge=1)
    page_delay: float = Field(default=0.0, ge=0.0)  # polite pause between ListRecords pages, seconds
    check_format: bool = True
    max_restarts: int = Field(default=1, ge=0)
    max_partial_age_hours: float | None = Field(default=48.0, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)  # never Authorization/Cookie (core.profiles)
    credential: str | None = None  # a declared MUSEUM_SYNC_CREDENTIAL_<NAME>, sent as the auth header
    auth_env: str | None = None  # deprecated spelling: "MUSEUM_SYNC_CREDENTIAL_<NAME>" only
    auth_header: str = "Authorization"
    auth_prefix: str = ""  # e.g. "Bearer "
    max_bytes: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _safe(cls, data: Any) -> Any:
        return check_table(data)

    @model_validator(mode="after")
    def _profile_known(self) -> OaiConfig:
        if self.profile is None and self.metadata_prefix not in _DEFAULT_PROFILES:
            raise ValueError(f"name a mapping profile for metadataPrefix {self.metadata_prefix!r}")
        return self

    @property
    def profile_name(self) -> str:
        return self.profile or _DEFAULT_PROFILES[self.metadata_prefix]

    def bound_credential(self, where: str) -> BoundCredential | None:
        """The declared credential for ``base_url``'s origin (``HarvestError`` if it is for another one)."""
        return bind_credential(
            credential_name(self.credential, self.auth_env),
            where=where,
            urls=[self.base_url],
            header=self.auth_header,
            prefix=self.auth_prefix,
        )


def oai_config(profile: Profile | str | Path, **overrides: Any) -> OaiConfig:
    """The ``[harvest]`` table of a profile (``protocol = "oai-pmh"``) as a config; ``profile`` defaults to it."""
    loaded = profile if isinstance(profile, Profile) else load_profile(profile)
    if not loaded.harvest:
        raise HarvestError(f"profile {loaded.name} ({loaded.origin}) has no [harvest] table")
    data = dict(loaded.harvest)
    data.setdefault("profile", loaded.origin or loaded.name)  # the file itself: resolvable off the search path
    data.update(overrides)
    try:
        return OaiConfig.model_validate(data)
    except ValidationError as exc:
        raise HarvestError(f"{loaded.origin or loaded.name}: [harvest]: {config_problems(exc)}") from None


@dataclass(frozen=True)
class Identify:
    repository_name: str | None
    base_url: str | None
    protocol_version: str | None
    granularity: str
    earliest_datestamp: str | None
    deleted_record: str | None
    admin_emails: tuple[str, ...]
    response_date: str | None


@dataclass(frozen=True)
class MetadataFormat:
    prefix: str
    schema: str | None
    namespace: str | None


@dataclass(frozen=True)
class OaiSet:
    spec: str
    name: str | None


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return " ".join(el.text.split()) or None


def _snippet(content: bytes) -> str:
    return repr(body_snippet(content))


def _request(
    client: HttpClient,
    base_url: str,
    params: Mapping[str, str],
    *,
    headers: Mapping[str, str] | None,
    stats: HttpStats | None,
    max_bytes: int | None = None,
    credential: BoundCredential | None = None,
) -> tuple[HttpResponse, etree._Element]:
    """One OAI-PMH request: fetch, parse safely, check the envelope, raise ``OaiError`` on an error element."""
    response = client.get(
        base_url,
        params=params,
        headers=headers,
        expect="xml",
        allow_status=_OAI_ERROR_STATUSES,
        stats=stats,
        max_bytes=max_bytes,
        credential=credential,
    )
    try:
        root = parse_xml_bytes(response.content, response.url)
    except SourceError as exc:
        if response.status >= 400:
            raise OaiProtocolError(f"{response.url}: HTTP {response.status}: {_snippet(response.content)}") from None
        raise OaiProtocolError(f"{response.url}: {exc.reason} (line {exc.line})") from None
    if root.tag != _O + "OAI-PMH":
        if response.status >= 400:
            raise OaiProtocolError(f"{response.url}: HTTP {response.status}: {_snippet(response.content)}")
        raise OaiProtocolError(f"{response.url}: not an OAI-PMH response (root element {root.tag!r})")
    errors = root.findall(_O + "error")
    if errors:
        code = errors[0].get("code") or "unknown"
        message = "; ".join(t for e in errors if (t := _text(e)))
        raise OaiError(code, message, response.url, _text(root.find(_O + "responseDate")))
    if response.status >= 400:
        raise OaiProtocolError(f"{response.url}: HTTP {response.status} without an OAI-PMH error element")
    return response, root


def identify(
    base_url: str,
    *,
    client: HttpClient | None = None,
    headers: Mapping[str, str] | None = None,
    stats: HttpStats | None = None,
    credential: BoundCredential | None = None,
) -> Identify:
    """``verb=Identify``: repository name, granularity (day when the repository does not say), deletion policy."""
    _, root = _request(
        client or get_client(), base_url, {"verb": "Identify"}, headers=headers, stats=stats, credential=credential
    )
    node = root.find(_O + "Identify")
    if node is None:
        raise OaiProtocolError(f"{redact(base_url, mask=REDACTED)}: Identify response without <Identify>")
    granularity = _text(node.find(_O + "granularity")) or DAY
    return Identify(
        repository_name=_text(node.find(_O + "repositoryName")),
        base_url=_text(node.find(_O + "baseURL")),
        protocol_version=_text(node.find(_O + "protocolVersion")),
        granularity=SECONDS if granularity.upper() == SECONDS.upper() else DAY,
        earliest_datestamp=_text(node.find(_O + "earliestDatestamp")),
        deleted_record=_text(node.find(_O + "deletedRecord")),
        admin_emails=tuple(t for e in node.findall(_O + "adminEmail") if (t := _text(e))),
        response_date=_text(root.find(_O + "responseDate")),
    )


def list_metadata_formats(
    base_url: str,
    *,
    client: HttpClient | None = None,
    headers: Mapping[str, str] | None = None,
    stats: HttpStats | None = None,
    credential: BoundCredential | None = None,
) -> list[MetadataFormat]:
    _, root = _request(
        client or get_client(),
        base_url,
        {"verb": "ListMetadataFormats"},
        headers=headers,
        stats=stats,
        credential=credential,
    )
    return [
        MetadataFormat(
            prefix=_text(f.find(_O + "metadataPrefix")) or "",
            schema=_text(f.find(_O + "schema")),
            namespace=_text(f.find(_O + "metadataNamespace")),
        )
        for f in root.iterfind(f"{_O}ListMetadataFormats/{_O}metadataFormat")
    ]


def list_sets(
    base_url: str,
    *,
    client: HttpClient | None = None,
    headers: Mapping[str, str] | None = None,
    stats: HttpStats | None = None,
    max_pages: int = 1000,
    credential: BoundCredential | None = None,
) -> list[OaiSet]:
    """Every set, following resumption tokens; ``[]`` for a repository without sets (``noSetHierarchy``)."""
    client = client or get_client()
    params: dict[str, str] = {"verb": "ListSets"}
    sets: list[OaiSet] = []
    for _ in range(max_pages):
        try:
            _, root = _request(client, base_url, params, headers=headers, stats=stats, credential=credential)
        except OaiError as exc:
            if exc.code == "noSetHierarchy":
                return []
            raise
        for node in root.iterfind(f"{_O}ListSets/{_O}set"):
            spec = _text(node.find(_O + "setSpec"))
            if spec:
                sets.append(OaiSet(spec=spec, name=_text(node.find(_O + "setName"))))
        token = _text(root.find(f"{_O}ListSets/{_O}resumptionToken"))
        if not token:
            return sets
        params = {"verb": "ListSets", "resumptionToken": token}
    raise OaiProtocolError(f"{redact(base_url, mask=REDACTED)}: ListSets did not end after {max_pages} pages")


def _as_datetime(value: datetime | date | str) -> tuple[datetime, bool]:
    """(UTC datetime, had a time part)."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
        return dt.astimezone(UTC), True
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC), False
    text = value.strip()
    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC), False
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"not an OAI datestamp (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ): {value!r}") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC), True


def format_datestamp(value: datetime | date | str | None, granularity: str, *, bound: str = "from") -> str | None:
    """A ``from``/``until`` argument at the repository's granularity.

    Rounding always widens the window (an incremental harvest may repeat a record, never miss one):
    with day granularity a time is dropped; with seconds granularity a bare ``until`` date means the end
    of that day.
    """
    if value is None:
        return None
    dt, timed = _as_datetime(value)
    if granularity == DAY:
        return dt.strftime("%Y-%m-%d")
    if not timed and bound == "until":
        dt = dt.replace(hour=23, minute=59, second=59)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _list_params(config: OaiConfig, from_: str | None, until: str | None) -> dict[str, str]:
    params = {"verb": "ListRecords", "metadataPrefix": config.metadata_prefix}
    if config.set_spec:
        params["set"] = config.set_spec
    if from_:
        params["from"] = from_
    if until:
        params["until"] = until
    return params


def harvest_oai(
    config: OaiConfig | Mapping[str, Any],
    store: ArtifactStore,
    *,
    source: str,
    incremental: bool = False,
    state_dir: Path | None = None,
    client: HttpClient | None = None,
    now: datetime | None = None,
) -> HarvestResult:
    """Harvest ``ListRecords`` into ``<store>/snapshots/<export_id>/``, resuming a killed harvest of the same key.

    ``incremental`` without a ``from`` in ``config`` starts at the source's high-water mark (the previous
    harvest's ``responseDate``; a full harvest when there is none). A harvest that covered the mark moves it
    once its snapshot is published. ``state_dir`` holds the partial harvests (default ``<store root>/snapshots``;
    it should be on the same filesystem). Returns the export id (``None`` when the list was empty) and the stats.
    """
    try:
        cfg = config if isinstance(config, OaiConfig) else OaiConfig.model_validate(dict(config))
    except ValidationError as exc:
        raise HarvestError(f"{slug(source)}: [harvest]: {config_problems(exc)}") from None
    client = client or get_client()
    source = slug(source)  # as it appears in export ids
    stats = HttpStats()
    credential = cfg.bound_credential(source)
    headers = dict(cfg.headers)
    base = cfg.base_url
    shown = recorded_url(base)
    scope = watermarks.scope_of(
        {"protocol": "oai-pmh", "base_url": shown, "metadata_prefix": cfg.metadata_prefix, "set": cfg.set_spec}
    )
    previous = watermarks.read_watermark(store, source, scope)
    window = cfg.from_
    if window is None and incremental and previous is not None:
        window = previous.next_from
    try:
        repo = identify(base, client=client, headers=headers, stats=stats, credential=credential)
        if cfg.check_format:
            offered = [
                f.prefix
                for f in list_metadata_formats(base, client=client, headers=headers, stats=stats, credential=credential)
            ]
            if cfg.metadata_prefix not in offered:
                raise HarvestError(
                    f"{source}: {shown} does not offer metadataPrefix {cfg.metadata_prefix!r}; "
                    f"it offers {', '.join(offered) or 'nothing'}"
                )
    except HttpError as exc:
        raise HarvestError(f"{source}: {exc}") from exc
    from_ = format_datestamp(window, repo.granularity, bound="from")
    until = format_datestamp(cfg.until, repo.granularity, bound="until")
    if from_ and until and from_ > until:
        raise HarvestError(f"{source}: from {from_} is after until {until}")
    params = {
        "base_url": shown,
        "metadata_prefix": cfg.metadata_prefix,
        "set": cfg.set_spec,
        "from": from_,
        "until": until,
    }
    with PartialHarvest.resume_or_start(
        state_dir or store.root / "snapshots",
        source=source,
        protocol="oai-pmh",
        fmt="xmllines",
        params=params,
        max_age_hours=cfg.max_partial_age_hours,
    ) as partial:
        _harvest_pages(cfg, partial, client, headers, stats, _list_params(cfg, from_, until), credential)
        response_date = partial.checkpoint.info.get("response_date")
        next_from = format_datestamp(response_date, repo.granularity) if response_date else None
        result = partial.publish(
            store,
            kind="incremental" if from_ else "full",
            profile=cfg.profile_name,
            chunk_size=cfg.chunk_size,
            harvest={
                "repository_name": repo.repository_name,
                "granularity": repo.granularity,
                "deleted_record": repo.deleted_record,
                "response_date": response_date,
                "complete_list_size": partial.checkpoint.info.get("complete_list_size"),
            },
            source_url=shown,
            next_from=next_from,
            stats=stats,
            now=now,
        )
    # Published (or found nothing): only now may the mark move, and only when this harvest reached back to it
    # and up to the present (an `until` window leaves the time after it unharvested).
    if next_from and until is None and watermarks.covers(from_, previous):
        watermarks.write_watermark(
            store,
            source=source,
            protocol="oai-pmh",
            scope=scope,
            next_from=next_from,
            export_id=result.export_id,
            window_from=from_,
        )
    return result


def _harvest_pages(
    cfg: OaiConfig,
    partial: PartialHarvest,
    client: HttpClient,
    headers: Mapping[str, str],
    stats: HttpStats,
    first: dict[str, str],
    credential: BoundCredential | None = None,
) -> None:
    cp = partial.checkpoint
    fetched = 0
    while not cp.done:
        cursor = cp.cursor
        token = cursor.get("resumption_token") if cursor else None
        params = {"verb": "ListRecords", "resumptionToken": token} if token else first
        where = f"page {cp.pages + 1}" + (f" (resumptionToken {token!r})" if token else "")
        if fetched and cfg.page_delay:
            time.sleep(cfg.page_delay)
        try:
            response, root = _request(
                client,
                cfg.base_url,
                params,
                headers=headers,
                stats=stats,
                max_bytes=cfg.max_bytes,
                credential=credential,
            )
        except OaiError as exc:
            if exc.code == "noRecordsMatch":
                # An empty (incremental) list; after a token it can only mean the list ended.
                empty: dict[str, Any] = {"no_records_match": True}
                if not token and exc.response_date:
                    empty["response_date"] = exc.response_date  # nothing changed up to then: the mark may move
                partial.append_page([], cursor=None, done=True, stats=stats, info=empty)
                return
            if exc.code == "badResumptionToken" and token:
                if cp.restarts >= cfg.max_restarts:
                    raise HarvestError(
                        f"{cp.source}: {exc} at {where}; the list was already restarted {cp.restarts} time(s)"
                    ) from exc
                partial.restart(f"badResumptionToken at {where}", stats=stats)
                continue
            raise HarvestError(f"{cp.source}: {exc} at {where}") from exc
        except OaiProtocolError as exc:
            raise HarvestError(f"{cp.source}: {exc} at {where}; nothing of this page was kept") from exc
        except HttpError as exc:
            raise HarvestError(
                f"{cp.source}: {exc} at {where}; {cp.pages} page(s) are checkpointed, rerun to resume"
            ) from exc
        fetched += 1
        lines, deleted, skipped = _page_records(partial, response, cp.source)
        list_node = root.find(_O + "ListRecords")
        token_el = list_node.find(_O + "resumptionToken") if list_node is not None else None
        next_token = _text(token_el)
        if next_token is not None and next_token == token:
            raise HarvestError(f"{cp.source}: {response.url} returned the same resumptionToken again (loop)")
        info: dict[str, Any] = {}
        if token_el is not None and token_el.get("completeListSize"):
            info["complete_list_size"] = token_el.get("completeListSize")
        if not token:
            info["response_date"] = _text(root.find(_O + "responseDate"))
        partial.append_page(
            lines,
            deleted,
            cursor={"resumption_token": next_token} if next_token else None,
            done=next_token is None,
            skipped=skipped,
            stats=stats,
            info=info,
        )


def _page_records(partial: PartialHarvest, response: HttpResponse, source: str) -> tuple[list[bytes], list[str], int]:
    """The page's records as one-line XML, its deleted identifiers, and how many records had no metadata."""
    page = partial.page_path
    page.write_bytes(response.content)
    lines: list[bytes] = []
    deleted: list[str] = []
    skipped = 0
    try:
        for record in iter_oai_records(page):
            if record.deleted:
                deleted.append(record.identifier)
            elif record.metadata is None:
                skipped += 1
            else:
                lines.append(record.metadata)
    except SourceError as exc:
        raise HarvestError(f"{source}: {response.url}: {exc.reason} (line {exc.line})") from None
    finally:
        page.unlink(missing_ok=True)
    return lines, deleted, skipped
