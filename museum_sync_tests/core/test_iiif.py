"""core.iiif on the real IIIF material in ``../shared/data/iiif``: fixtures, recipes, institutional manifests.

The expectations for the real manifests were checked by hand against the Presentation 3.0 specification
(https://iiif.io/api/presentation/3.0/); the section each rests on is named beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from museum_sync.core.iiif import ERROR, WARNING, parse_and_validate, validate_document
from museum_sync.core.iiif.findings import Finding, json_pointer
from museum_sync.core.iiif.rules import annotation_targets, canvas_dimensions, image_services, items_not_empty
from museum_sync_tests.conftest import shared_data_dir

IIIF = shared_data_dir() / "iiif"  # also read at collection time, to parametrize by file


@pytest.fixture(scope="module")
def iiif_dir(shared_data: Path) -> Path:
    return shared_data / "iiif"


def _files(folder: str) -> list[str]:
    return sorted(p.name for p in (IIIF / folder).glob("*.json"))


def _report(iiif_dir: Path, rel: str):
    return parse_and_validate((iiif_dir / rel).read_bytes())


def _keys(report) -> set[tuple[str, str, str]]:
    return {(f.severity, f.rule, f.pointer) for f in report.findings}


@pytest.mark.parametrize("name", _files("validator_fixtures/valid"))
def test_every_good_validator_fixture_passes(iiif_dir: Path, name: str) -> None:
    report = _report(iiif_dir, f"validator_fixtures/valid/{name}")
    assert report.version == "3"
    assert not report.broken, [str(f) for f in report.findings]


@pytest.mark.parametrize("name", _files("cookbook"))
def test_every_cookbook_recipe_passes(iiif_dir: Path, name: str) -> None:
    report = _report(iiif_dir, f"cookbook/{name}")
    assert not report.broken, [str(f) for f in report.findings]


def test_the_warnings_on_good_material_are_real() -> None:
    """Two recipes have an id with a trailing space, and one official "valid" fixture paints its sound on the
    AnnotationPage's id instead of the Canvas: allowed to pass, but said."""
    recipe = parse_and_validate((IIIF / "cookbook/0229-behavior-ranges.json").read_bytes())
    assert _keys(recipe) == {(WARNING, "http_id", "/id")}
    fixture = parse_and_validate((IIIF / "validator_fixtures/valid/accompanyingCanvas.json").read_bytes())
    assert _keys(fixture) == {(WARNING, "annotation_target", "/items/0/items/0/items/0/target")}


# Each bad fixture: a finding that says exactly what is wrong (rule, pointer, words of the message).
BAD = {
    "broken_choice.json": ("canvas_dimensions", "/items/0", "only width"),
    "broken_collection.json": ("schema", "", "'label' is a required property"),
    "broken_embedded_annos.json": ("schema", "/items/0/items/0", "'annotations' was unexpected"),
    "broken_service.json": ("schema", "/items/0/items/0/items/0/body/service", "not of type 'array'"),
    "broken_simple_image.json": ("schema", "/items/0", "'id' is a required property"),
    "collection_of_canvases.json": ("schema", "/items/0/type", "'Canvas' does not match"),
    "non_cc_license.json": ("rights", "/rights", "not a Creative Commons or RightsStatements.org URI"),
    "old_format_label.json": ("language_map", "/label", "must be a language map"),
    "rights_lang_issues.json": ("language_map", "/label/@none", 'IIIF 3.0 uses "none"'),
}


def test_the_bad_fixtures_are_all_listed() -> None:
    assert sorted(BAD) == _files("validator_fixtures/invalid")


@pytest.mark.parametrize(("name", "expected"), sorted(BAD.items()))
def test_every_bad_fixture_fails_with_a_precise_finding(iiif_dir: Path, name: str, expected: tuple) -> None:
    rule, pointer, words = expected
    report = _report(iiif_dir, f"validator_fixtures/invalid/{name}")
    assert report.broken
    matching = [f for f in report.findings if (f.rule, f.pointer) == (rule, pointer) and words in f.message]
    assert matching, [str(f) for f in report.findings]
    assert matching[0].severity == ERROR


# The real manifests: (severity, rule, pointer) findings that must be there, checked by hand; None: valid.
REAL = {
    # 3.0 5.3: "logo" belongs in provider (section 3.2, provider.logo); "posterCanvas" is the 3.0 draft's name
    # for placeholderCanvas. Both are unknown top-level properties of a final 3.0 Manifest.
    "bl_c465_multivalue_ranges.json": {(ERROR, "schema", "")},
    # + 3.3.1 homepage is a list; 3.2 format is a MIME type: HLS's is application/vnd.apple.mpegurl.
    "bl_loose_ends_required_statement.json": {
        (ERROR, "schema", ""),
        (ERROR, "schema", "/homepage"),
        (ERROR, "schema", "/items/0/items/0/items/0/body/items/1/format"),
    },
    # 3.3.3 rights: the defined URI is http://creativecommons.org/licenses/by-nc/4.0/ (on a Range; the
    # schema does not check rights there, the rule does).
    "bl_rhul.json": {(ERROR, "rights", "/structures/0/items/0/rights")},
    # HLS format as above; the Auth 1 login service's label is a string where the schema wants a language map.
    "bl_sounds_ranges.json": {
        (ERROR, "schema", "/items/0/items/0/items/0/body/items/1/format"),
        (ERROR, "schema", "/service/0/label"),
    },
    # logo at top level; label/summary strings, not language maps (4.3); service an object, not a list (3.3.4);
    # thumbnail without type (3.3.1); a target with a selector but no source (SpecificResource, W3C model).
    "bodleian_human_freaks.json": {
        (ERROR, "schema", ""),
        (ERROR, "language_map", "/summary"),
        (ERROR, "language_map", "/items/0/label"),
        (ERROR, "schema", "/items/0/items/0/items/0/body/service"),
        (ERROR, "schema", "/thumbnail/0"),
        (ERROR, "schema", "/items/0/annotations/0/items/1/target"),
    },
    "bodleian_lp44.json": {(ERROR, "schema", "")},
    "ghent_cdh_choices.json": None,
    # 4.3: the language key for "no language" is "none"; "@none" is JSON-LD 1.1's keyword.
    "vam_codex_forster.json": {(ERROR, "language_map", "/items/10/label/@none"), (ERROR, "schema", "/label")},
    # 5.7: an AnnotationPage MUST have an id.
    "vam_ocean_liners.json": {(ERROR, "schema", "/items/0/items/0")},
    "wellcome_b18035723.json": None,
    "wellcome_collection_genre.json": None,
    # 3.3.3 https CC URI; 3.3.4 services without id.
    "wellcome_test_b28857021.json": {
        (ERROR, "rights", "/rights"),
        (ERROR, "schema", "/services/0"),
        (ERROR, "schema", "/services/1"),
    },
}


def test_the_real_manifests_are_all_listed() -> None:
    assert sorted(REAL) == _files("manifests")


@pytest.mark.parametrize(("name", "expected"), sorted(REAL.items()))
def test_real_manifests_get_the_findings_checked_by_hand(iiif_dir: Path, name: str, expected: set | None) -> None:
    report = _report(iiif_dir, f"manifests/{name}")
    assert report.version == "3"
    if expected is None:
        assert report.findings == (), [str(f) for f in report.findings]
    else:
        assert report.broken
        assert expected <= _keys(report), sorted(_keys(report) - expected)[:10]


def test_a_v2_manifest_is_recognised_and_reported_as_such() -> None:
    report = validate_document(
        {"@context": "http://iiif.io/api/presentation/2/context.json", "@id": "https://x.org/m", "@type": "sc:Manifest"}
    )
    assert report.version == "2" and not report.broken
    assert [(f.rule, f.pointer) for f in report.findings] == [("presentation_v2", "/@context")]


def test_not_json_and_not_iiif_are_one_error_each() -> None:
    assert [f.rule for f in parse_and_validate(b"<html>").findings] == ["not_json"]
    assert [f.rule for f in validate_document({"hello": 1}).findings] == ["not_iiif"]


def test_semantic_rules_catch_what_the_schema_cannot() -> None:
    canvas = "https://x.org/c1"
    manifest = {
        "@context": "http://iiif.io/api/presentation/3/context.json",
        "id": "https://x.org/m",
        "type": "Manifest",
        "label": {"en": ["m"]},
        "items": [
            {
                "id": canvas,
                "type": "Canvas",
                "items": [
                    {
                        "id": "https://x.org/p1",
                        "type": "AnnotationPage",
                        "items": [
                            {
                                "id": "https://x.org/a1",
                                "type": "Annotation",
                                "motivation": "painting",
                                "target": "https://x.org/c2",
                                "body": {
                                    "id": "https://x.org/i.jpg",
                                    "type": "Image",
                                    "service": [
                                        {"id": "https://x.org/iiif/info.json", "type": "ImageService3", "profile": "l9"}
                                    ],
                                },
                            }
                        ],
                    }
                ],
            },
            {"id": "https://x.org/c2", "type": "Canvas", "height": 1, "width": 1, "items": []},
        ],
    }
    # The schema sees only the missing dimensions; the wrong target and the service's profile pass it.
    from museum_sync.core.iiif.schema_check import schema_findings

    assert [(f.pointer, f.message) for f in schema_findings(manifest)] == [
        ("/items/0", "'width' is a required property")
    ]
    assert [f.pointer for f in canvas_dimensions(manifest)] == ["/items/0"]
    targets = annotation_targets(manifest)
    assert [(f.severity, f.pointer) for f in targets] == [(ERROR, "/items/0/items/0/items/0/target")]
    services = image_services(manifest)
    assert [(f.severity, "info.json" in f.message, "'l9'" in f.message) for f in services] == [
        (WARNING, True, False),
        (ERROR, False, True),
    ]
    assert [(f.severity, f.pointer) for f in items_not_empty(manifest)] == [(WARNING, "/items/1/items")]
    assert validate_document(manifest).broken


def test_findings_round_trip_and_point_with_rfc6901() -> None:
    assert json_pointer(("items", 0, "a/b", "~x")) == "/items/0/a~1b/~0x"
    finding = Finding("/rights", "rights", ERROR, "bad")
    assert Finding.from_dict(finding.as_dict()) == finding
    assert json.loads(json.dumps(finding.as_dict()))["pointer"] == "/rights"
