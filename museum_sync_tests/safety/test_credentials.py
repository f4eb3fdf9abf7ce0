"""Finding 8 of issue #12: a profile (data a museum writes) cannot pick a secret of the environment or send a
credential to a host it is not for. Real local HTTP servers record every header they receive."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from museum_sync.clients.artifacts import ArtifactStore
from museum_sync.clients.http import HttpClient, HttpSettings
from museum_sync.core.exceptions import ProfileError
from museum_sync.core.profiles import load_profile
from museum_sync.harvest import HarvestError, harvest_json_api, harvest_oai, json_api_config
from museum_sync_tests.harvest_server import HarvestServer

SECRET = "s3cret-value-9f2c"  # the value of whatever variable a profile tries to reach
SHIPPED = Path(__file__).resolve().parents[2] / "museum_sync" / "core" / "profiles" / "aic_artworks_api.toml"


@pytest.fixture
def client() -> Iterator[HttpClient]:
    with HttpClient(HttpSettings(read_timeout=0.5, backoff_base=0.02, backoff_max=0.1, max_attempts=2)) as c:
        yield c


@pytest.fixture
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def origin_a(shared_data: Path) -> Iterator[HarvestServer]:
    with HarvestServer(shared_data, json_page_size=3) as srv:
        yield srv


@pytest.fixture
def origin_b(shared_data: Path) -> Iterator[HarvestServer]:
    with HarvestServer(shared_data, json_page_size=3) as srv:
        yield srv


def museum_profile(folder: Path, url: str, extra: str) -> Path:
    """The shipped AIC API profile as a museum would copy it, pointed at ``url``, with ``extra`` in [harvest]."""
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace('url = "https://api.artic.edu/api/v1/artworks"\n', f'url = "{url}"\n{extra}\n', 1)
    path = folder / "museum_api.toml"
    path.write_text(text, encoding="utf-8")
    return path


def declare(monkeypatch: pytest.MonkeyPatch, origin: str, name: str = "MUSEUM_API") -> None:
    monkeypatch.setenv(f"MUSEUM_SYNC_CREDENTIAL_{name}", SECRET)
    monkeypatch.setenv(f"MUSEUM_SYNC_CREDENTIAL_{name}_ORIGIN", origin)


def all_bytes_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


def sent(server: HarvestServer) -> str:
    """Everything the server received: paths, parameters and headers."""
    return json.dumps([[r.path, r.params, r.headers] for r in server.requests])


# ---------------------------------------------------------------- a profile cannot pick an environment secret


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MUSEUM_SYNC_ES_PASSWORD", SECRET),
        ("PGPASSWORD", SECRET),
        ("MUSEUM_SYNC_PG_URL", f"postgresql://museum:{SECRET}@db.example/cat"),
    ],
)
def test_a_profile_naming_an_environment_secret_is_refused_at_load(
    variable: str, value: str, tmp_path: Path, origin_a: HarvestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, value)
    path = museum_profile(tmp_path, origin_a.aic_url, f'auth_env = "{variable}"')
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert "\n" not in message and SECRET not in message
    assert message.startswith(f"{path.resolve()}: invalid profile: harvest")
    assert f"auth_env = '{variable}'" in message and 'credential = "<NAME>"' in message
    with pytest.raises(ProfileError):
        json_api_config(path)  # and so it cannot be harvested either
    assert origin_a.requests == []


@pytest.mark.parametrize("variable", ["MUSEUM_SYNC_ES_PASSWORD", "PGPASSWORD"])
def test_a_harvest_table_built_in_code_is_held_to_the_same_rule(
    variable: str, origin_a: HarvestServer, client: HttpClient, store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, SECRET)
    with pytest.raises(HarvestError) as api:
        harvest_json_api(
            json_api_config("aic_artworks_api", url=origin_a.aic_url, auth_env=variable), store, client=client
        )
    with pytest.raises(HarvestError) as oai:
        harvest_oai({"base_url": origin_a.oai_url, "auth_env": variable}, store, source="kenom", client=client)
    for exc in (api.value, oai.value):
        assert "\n" not in str(exc) and SECRET not in str(exc) and f"auth_env = '{variable}'" in str(exc)
    assert origin_a.requests == []
    assert SECRET not in sent(origin_a)


@pytest.mark.parametrize("header", ["Authorization", "cookie", "Proxy-Authorization", "Host"])
def test_profile_headers_may_not_carry_credentials(header: str, tmp_path: Path, origin_a: HarvestServer) -> None:
    path = museum_profile(tmp_path, origin_a.aic_url, f'headers = {{ "{header}" = "Bearer {SECRET}" }}')
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert message.startswith(f"{path.resolve()}: invalid profile: ") and f"headers.{header}: " in message
    assert "\n" not in message and SECRET not in message


def test_auth_env_naming_a_declared_credential_still_works_for_one_release(
    tmp_path: Path, origin_a: HarvestServer, client: HttpClient, store: ArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    declare(monkeypatch, origin_a.base_url)
    path = museum_profile(
        tmp_path, origin_a.aic_url, 'auth_env = "MUSEUM_SYNC_CREDENTIAL_MUSEUM_API"\nauth_prefix = "Bearer "'
    )
    result = harvest_json_api(json_api_config(path, params={"limit": "3"}), store, source="museum", client=client)
    assert result.records == 7
    assert {r.headers.get("authorization") for r in origin_a.requests} == {f"Bearer {SECRET}"}
    assert SECRET.encode() not in all_bytes_under(store.root)


# --------------------------------------------------------------------- a credential stays on its origin


def test_a_credential_bound_to_origin_a_is_not_sent_to_origin_b(
    tmp_path: Path,
    origin_a: HarvestServer,
    origin_b: HarvestServer,
    client: HttpClient,
    store: ArtifactStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    declare(monkeypatch, origin_a.base_url)
    path = museum_profile(tmp_path, origin_b.aic_url, 'credential = "MUSEUM_API"\nauth_prefix = "Bearer "')
    with pytest.raises(HarvestError) as api:
        harvest_json_api(json_api_config(path), store, source="museum", client=client)
    with pytest.raises(HarvestError) as oai:
        harvest_oai({"base_url": origin_b.oai_url, "credential": "MUSEUM_API"}, store, source="kenom", client=client)
    a, b = origin_a.base_url.rsplit(":", 1)[1], origin_b.base_url.rsplit(":", 1)[1]
    for exc in (api.value, oai.value):
        message = str(exc)
        assert "\n" not in message and SECRET not in message
        assert re.search(rf"credential MUSEUM_API is for http://127\.0\.0\.1:{a}, not http://127\.0\.0\.1:{b}", message)
    assert origin_b.requests == [] and origin_a.requests == []


def test_a_next_link_to_an_allowed_origin_gets_the_request_but_not_the_credential(
    tmp_path: Path,
    origin_a: HarvestServer,
    origin_b: HarvestServer,
    client: HttpClient,
    store: ArtifactStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    declare(monkeypatch, origin_a.base_url)
    monkeypatch.setenv("MUSEUM_SYNC_HTTP_ALLOWED_ORIGINS", origin_b.base_url)  # e.g. the museum's CDN
    page = {
        "pagination": {"next_url": f"{origin_b.aic_url}?limit=3&page=2"},
        "data": origin_a.artworks[:3],
    }
    origin_a.inject("body", path="/aic/artworks", body=json.dumps(page).encode(), content_type="application/json")
    for extra, leak in (('auth_prefix = "Bearer "', "authorization"), ('auth_query_param = "key"', "key")):
        path = museum_profile(tmp_path, origin_a.aic_url, f'credential = "MUSEUM_API"\n{extra}')
        origin_b.reset_log()
        result = harvest_json_api(json_api_config(path, params={"limit": "3"}), store, source="museum", client=client)
        assert result.records == 7 and origin_b.count(path="/aic/artworks") == 2
        first = origin_a.requests[-1]
        assert SECRET in (first.headers.get(leak, "") + first.params.get(leak, ""))  # A got it...
        assert SECRET not in sent(origin_b)  # ...B never did, in any header or parameter
        origin_a.inject("body", path="/aic/artworks", body=json.dumps(page).encode(), content_type="application/json")
