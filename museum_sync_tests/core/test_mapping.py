"""The [map] language: each form on small records, then the shipped profiles on the real exports."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from museum_sync.core.exceptions import ProfileError
from museum_sync.core.mapping import Mapper, compile_mapper
from museum_sync.core.profiles import Profile, load_profile
from museum_sync.core.sources import iter_csv

CC0 = "http://creativecommons.org/publicdomain/zero/1.0/"
INC = "http://rightsstatements.org/vocab/InC/1.0/"


def mapper(fmt: str = "jsonl", *, language: str | None = None, **spec: Any) -> Mapper:
    """A mapper for a profile with no institution/rights defaults, so drafts hold only what is mapped."""
    data: dict[str, Any] = {"name": "t", "format": fmt, "map": {"record_id": "id", **spec}}
    if language:
        data["language"] = language
    return compile_mapper(Profile.model_validate(data))


# ------------------------------------------------------------------------------------ paths


def test_csv_path_is_the_column_name_even_with_dots_and_brackets() -> None:
    m = mapper("csv", object_number="Accession No.", description="notes[0].text")
    draft = m.map({"id": " 7 ", "Accession No.": " A1 ", "notes[0].text": "a column, not a path"})
    assert draft == {"record_id": "7", "object_number": "A1", "description": "a column, not a path"}


def test_values_are_stripped_and_empty_values_left_out() -> None:
    m = mapper("csv", object_number="acno", description="desc", inscription="ins")
    assert m.map({"id": "1", "acno": "   ", "desc": "", "ins": None}) == {"record_id": "1"}
    assert m.map({}) == {}


def test_nested_path() -> None:
    m = mapper(date_earliest="dateRange.startYear", date_latest="dateRange.endYear", date_display="date.text")
    raw = {"id": 1, "dateRange": {"startYear": 1814, "endYear": 1825}, "date": "not a dict"}
    assert m.map(raw) == {"record_id": 1, "date_earliest": 1814, "date_latest": 1825}


def test_fan_out_with_brackets() -> None:
    m = mapper(materials="media[].name", techniques="techniques[]")
    raw = {
        "id": 1,
        "media": [{"name": "oil"}, {"name": " "}, {"other": 1}, {"name": "canvas"}],
        "techniques": [],
    }
    assert m.map(raw) == {"record_id": 1, "materials": ["oil", "canvas"]}
    # A single value where a list was expected is taken as a one-item list.
    assert m.map({"id": 2, "media": {"name": "bronze"}})["materials"] == ["bronze"]
    # List fields are lists of strings even when the source has numbers.
    assert m.map({"id": 3, "techniques": [1, 2.5]})["techniques"] == ["1", "2.5"]


def test_index_in_path() -> None:
    m = mapper(object_number="identifiers[0].value", repository="identifiers[1].value", work_type="types[5]")
    raw = {"id": 1, "identifiers": [{"value": "A-1"}, {"value": "Dept"}], "types": ["print"]}
    assert m.map(raw) == {"record_id": 1, "object_number": "A-1", "repository": "Dept"}
    assert m.map({"id": 1, "identifiers": "not a list"}) == {"record_id": 1}


def test_bad_path_segment_is_a_profile_error() -> None:
    with pytest.raises(ProfileError, match=r"bad path segment 'items\[x\]' in 'items\[x\].name'"):
        mapper(object_number="items[x].name")


# ------------------------------------------------------------------------------------ value tables


def test_values_table_translates_booleans_and_strings() -> None:
    m = mapper(rights={"path": "is_public_domain", "values": {"true": CC0, "false": INC}})
    assert m.map({"id": 1, "is_public_domain": True})["rights"] == CC0
    assert m.map({"id": 1, "is_public_domain": False})["rights"] == INC
    assert m.map({"id": 1, "is_public_domain": "true"})["rights"] == CC0
    assert "rights" not in m.map({"id": 1})


def test_values_table_star_and_default() -> None:
    m = mapper(rights={"path": "copyright", "values": {"*": INC}, "default": CC0})
    assert m.map({"id": 1, "copyright": "© Mat Collishaw"})["rights"] == INC
    assert m.map({"id": 1, "copyright": None})["rights"] == CC0
    assert m.map({"id": 1, "copyright": "  "})["rights"] == CC0
    assert m.map({"id": 1})["rights"] == CC0


def test_values_table_without_match_keeps_the_value() -> None:
    m = mapper(work_type={"path": "type", "values": {"ptg": "painting"}})
    assert m.map({"id": 1, "type": "ptg"})["work_type"] == "painting"
    assert m.map({"id": 1, "type": "drawing"})["work_type"] == "drawing"


def test_default_without_table() -> None:
    m = mapper("csv", rights={"path": "rights", "default": CC0})
    assert m.map({"id": "1", "rights": ""})["rights"] == CC0
    assert m.map({"id": "1", "rights": INC})["rights"] == INC


def test_constant() -> None:
    m = mapper(work_type={"constant": "painting"}, acquisition_year={"constant": 1922})
    assert m.map({}) == {"work_type": "painting", "acquisition_year": 1922}
    assert "work_type" not in m.sources  # a constant has no source field


def test_template() -> None:
    m = mapper(source_url={"template": "https://example.org/{dept.code}/objects/{id}"})
    assert m.map({"id": 42, "dept": {"code": "PD"}})["source_url"] == "https://example.org/PD/objects/42"
    assert m.sources["source_url"] == "dept.code,id"


@pytest.mark.parametrize("dept", [None, "", "   ", {}])
def test_template_with_an_empty_part_gives_nothing(dept: Any) -> None:
    m = mapper(source_url={"template": "https://example.org/{dept}/objects/{id}"})
    assert "source_url" not in m.map({"id": 42, "dept": dept})
    assert "source_url" not in m.map({"dept": "PD"})


def test_split() -> None:
    m = mapper("csv", materials={"path": "medium", "split": ";"})
    assert m.map({"id": "1", "medium": " oil ; canvas;; gilt frame "})["materials"] == [
        "oil",
        "canvas",
        "gilt frame",
    ]
    assert "materials" not in m.map({"id": "1", "medium": " ; ;"})
    assert m.map({"id": "1", "medium": "bronze"})["materials"] == ["bronze"]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"pth": "x"}, r"\[map\] t.work_type: unknown keys \['pth'\]"),
        ({"values": {"a": "b"}}, r"\[map\] t.work_type: a table needs 'path', 'constant', 'template' or 'first'"),
        (5, r"\[map\] t.work_type: expected a path string or a table, got 5"),
    ],
)
def test_bad_scalar_spec(spec: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        mapper(work_type=spec)


# ------------------------------------------------------------------------------------ composites


def test_creators_without_each_on_a_csv_row() -> None:
    m = mapper("csv", creators={"name": "artist", "source_id": "artistId", "role": {"constant": "artist"}})
    draft = m.map({"id": "1", "artist": "Blake, Robert", "artistId": "38"})
    assert draft["creators"] == [{"name": "Blake, Robert", "source_id": "38", "role": "artist"}]
    assert "creators" not in m.map({"id": "2", "artist": "", "artistId": "38"})  # no name, no creator
    assert m.sources["creators.name"] == "artist"


def test_creators_with_each_and_skip_roles() -> None:
    m = mapper(
        creators={
            "each": "people[]",
            "name": "name",
            "role": "role",
            "skip_roles": ["Donor", "previous owner"],
        }
    )
    raw = {
        "people": [
            {"name": "Gustav Stickley", "role": "Designer"},
            {"name": "Miss Bell Gurnee", "role": "donor"},  # skip_roles match case-insensitively
            {"name": "A. Collector", "role": "Previous Owner"},
            {"name": "", "role": "Maker"},
            {"name": "Anonymous"},
        ]
    }
    assert m.map(raw)["creators"] == [
        {"name": "Gustav Stickley", "role": "Designer"},
        {"name": "Anonymous"},
    ]
    assert m.sources["creators.name"] == "people[].name"
    assert m.map({"people": []}) == {}
    assert m.map({}) == {}


def test_measurements_without_each_share_unit() -> None:
    m = mapper("csv", measurements={"height": "h", "width": "w", "depth": "d", "unit": "units"})
    draft = m.map({"id": "1", "h": "419", "w": "394", "d": "", "units": "mm"})
    assert draft["measurements"] == [
        {"dimension": "height", "value": "419", "unit": "mm", "extent": None},
        {"dimension": "width", "value": "394", "unit": "mm", "extent": None},
    ]
    assert "measurements" not in m.map({"id": "1", "h": "", "w": "", "units": "mm"})


def test_measurements_with_each_and_extent() -> None:
    m = mapper(
        measurements={
            "each": "dims[]",
            "height": "height",
            "width": "width",
            "diameter": "diameter",
            "extent": "clarification",
            "unit": {"constant": "cm"},
        }
    )
    raw = {"dims": [{"height": 17, "width": 15, "clarification": "Image"}, {"diameter": 3.5, "width": None}]}
    assert m.map(raw)["measurements"] == [
        {"dimension": "height", "value": 17, "unit": "cm", "extent": "Image"},
        {"dimension": "width", "value": 15, "unit": "cm", "extent": "Image"},
        {"dimension": "diameter", "value": 3.5, "unit": "cm", "extent": None},
    ]


def test_images_with_each_skip_elements_without_url() -> None:
    m = mapper(images={"each": "images[]", "url": "b.url", "is_primary": "b.is_primary"})
    raw = {"images": [{"b": {"url": "https://x/1.jpg", "is_primary": "1"}}, {"b": {}}, {"z": {"url": "no"}}]}
    assert m.map(raw)["images"] == [{"url": "https://x/1.jpg", "is_primary": "1"}]
    assert m.sources["images.url"] == "images[].b.url"


def test_titles_composite_defaults_language_to_the_profile() -> None:
    m = mapper(
        language="en",
        titles={"each": "titles[]", "text": "text", "lang": "lang", "preferred": {"constant": False}},
    )
    raw = {"titles": [{"text": "Venetsia", "lang": "fi"}, {"text": "Venice"}, {"lang": "sv"}]}
    assert m.map(raw)["titles"] == [
        {"text": "Venetsia", "lang": "fi", "preferred": False},
        {"text": "Venice", "lang": "en", "preferred": False},
    ]


def test_title_shortcuts() -> None:
    m = mapper(language="en", title="title", title_lang="title_language", alt_titles="alt_titles[]")
    raw = {"title": " Venetsia ", "title_language": "fi", "alt_titles": ["Venice", "", "Venedig"]}
    assert m.map(raw)["titles"] == [
        {"text": "Venetsia", "lang": "fi", "preferred": True},
        {"text": "Venice", "lang": "en", "preferred": False},
        {"text": "Venedig", "lang": "en", "preferred": False},
    ]
    # Without title_lang the profile language is used; a single alt title is not a list.
    m = mapper(language="en", title="title", alt_titles="alt")
    assert m.map({"title": "Hollow Oak", "alt": "Oak"})["titles"] == [
        {"text": "Hollow Oak", "lang": "en", "preferred": True},
        {"text": "Oak", "lang": "en", "preferred": False},
    ]
    assert "titles" not in m.map({"title": " ", "alt": None})
    assert m.sources["titles"] == "title"


def test_shortcut_title_comes_before_composite_titles() -> None:
    m = mapper(title="title", titles={"each": "others[]", "text": "t"})
    assert [t["text"] for t in m.map({"title": "Main", "others": [{"t": "Other"}]})["titles"]] == [
        "Main",
        "Other",
    ]


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("creators", {"name": "a", "nationality": "n"}, r"unknown sub-fields \['nationality'\]"),
        ("images", {"url": "u", "skip_roles": ["x"]}, r"unknown sub-fields \['skip_roles'\]"),
        ("measurements", {"height": "h", "colour": "c"}, r"unknown sub-fields \['colour'\]"),
        ("titles", {"text": "t", "role": "r"}, r"unknown sub-fields \['role'\]"),
        ("creators", "artist", r"\[map\] t.creators: expected a table of sub-fields"),
        ("creators", {"name": {"pth": "x"}}, r"\[map\] t.creators.name: unknown keys \['pth'\]"),
    ],
)
def test_bad_composite(name: str, spec: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        mapper(**{name: spec})


def test_unknown_field_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError) as exc:
        mapper(colour="colour")
    message = str(exc.value)
    assert "[map] t.colour: unknown field 'colour'; known fields: " in message
    for known in ("record_id", "titles", "creators", "measurements", "alt_titles", "rights", "iiif_manifest"):
        assert known in message


def test_unknown_field_in_a_profile_file_fails_when_loaded_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "typo.toml"
    path.write_text('format = "csv"\n[map]\nrecord_id = "id"\ntitel = "title"\n', encoding="utf-8")
    # [map] is free-form for the profile model, and type-checked by the compiler as the file is loaded
    with pytest.raises(ProfileError, match=rf"^{re.escape(str(path))}:4: \[map\] typo.titel: unknown field 'titel'"):
        load_profile(path)


# ------------------------------------------------------------------------------------ profile defaults


def test_profile_defaults_fill_unmapped_fields() -> None:
    profile = Profile.model_validate(
        {
            "name": "t",
            "format": "csv",
            "institution": "Tate",
            "source_system": "release",
            "default_rights": CC0,
            "language": "en",
            "map": {"record_id": "id", "rights": "rights"},
        }
    )
    m = compile_mapper(profile)
    assert m.map({"id": "1"}) == {
        "record_id": "1",
        "institution": "Tate",
        "source_system": "release",
        "language": "en",
    }
    # rights is mapped, so the profile default does not apply: the map's own default is the place for it.
    assert m.map({"id": "1", "rights": INC})["rights"] == INC


# ------------------------------------------------------------------------------------ real exports


@pytest.fixture(scope="module")
def tate_rows(shared_data: Path) -> dict[str, dict[str, Any]]:
    return {raw["accession_number"]: raw for _, raw in iter_csv(shared_data / "csv/tate_artwork_data_first52rows.csv")}


def read_json(shared_data: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((shared_data / "json" / name).read_text(encoding="utf-8"))
    return data


def test_tate_csv_row(tate_rows: dict[str, dict[str, Any]]) -> None:
    m = compile_mapper(load_profile("tate_artworks_csv"))
    draft = m.map(tate_rows["A00003"])
    assert draft == {
        "record_id": "1037",
        "object_number": "A00003",
        "titles": [
            {
                "text": "The Preaching of Warning. Verso: An Old Man Enthroned between Two Groups of "
                "Figures, by ?William Blake",
                "lang": "en",
                "preferred": True,
            }
        ],
        "creators": [{"name": "Blake, Robert", "source_id": "38", "role": "artist"}],
        "date_display": "?c.1785",
        "date_earliest": "1785",
        "credit_line": "Presented by Mrs John Richmond 1922",
        "acquisition": "Presented by Mrs John Richmond 1922",
        "dimensions_display": "support: 343 x 467 mm",
        "measurements": [
            {"dimension": "height", "value": "467", "unit": "mm", "extent": None},
            {"dimension": "width", "value": "343", "unit": "mm", "extent": None},
        ],
        "images": [{"url": "http://www.tate.org.uk/art/images/work/A/A00/A00003_8.jpg", "is_primary": True}],
        "rights": CC0,  # no rights column in Tate's release: the map's default
        "institution": "Tate",
        "source_system": "Tate collection data release",
        "language": "en",
    }
    assert m.sources["images.url"] == "thumbnailUrl"
    assert m.sources["credit_line"] == "creditLine"


def test_tate_csv_all_rows(tate_rows: dict[str, dict[str, Any]]) -> None:
    m = compile_mapper(load_profile("tate_artworks_csv"))
    drafts = {acno: m.map(raw) for acno, raw in tate_rows.items()}
    assert len(drafts) == 52
    assert list(drafts)[0] == "A00001" and list(drafts)[-1] == "A00052"
    assert sum("images" in d for d in drafts.values()) == 48  # four rows have no thumbnailUrl
    assert sum("date_display" in d for d in drafts.values()) == 47
    assert "images" not in drafts["A00038"]
    assert "date_display" not in drafts["A00001"]
    assert drafts["A00019"]["date_display"] == "1825, reprinted 1874"
    assert drafts["A00019"]["creators"] == [{"name": "Blake, William", "source_id": "39", "role": "artist"}]
    assert drafts["A00034"]["date_display"] == "1794/c.1830-5"
    assert all(d["rights"] == CC0 and d["institution"] == "Tate" for d in drafts.values())


def test_aic_csv(shared_data: Path) -> None:
    m = compile_mapper(load_profile("aic_artworks_csv"))
    drafts = [m.map(raw) for _, raw in iter_csv(shared_data / "csv/aic_someArtworks.csv")]
    assert len(drafts) == 422
    assert drafts[0] == {
        "record_id": "869",
        "object_number": "1894.1031",
        "titles": [{"text": "The Watermill with the Great Red Roof", "lang": "en", "preferred": True}],
        "repository": "Painting and Sculpture of Europe",
        "creators": [{"name": "Meindert Hobbema", "role": "artist"}],
        "source_url": "https://www.artic.edu/artworks/869",
        "iiif_manifest": "https://api.artic.edu/api/v1/artworks/869/manifest.json",
        "institution": "Art Institute of Chicago",
        "source_system": "AIC public API data dump",
        "rights": CC0,
        "language": "en",
    }
    assert drafts[1]["titles"][0]["text"] == "Ready-to-Wear"
    assert drafts[2]["creators"] == [{"name": "Henri Matisse", "role": "artist"}]
    assert sum("creators" in d for d in drafts) == 386  # 36 rows have no artist_title
    assert sum("repository" in d for d in drafts) == 417


def test_aic_api_record(shared_data: Path) -> None:
    m = compile_mapper(load_profile("aic_artworks_api"))
    draft = m.map(read_json(shared_data, "aic_artwork_11.json"))
    assert draft["record_id"] == 11
    assert draft["object_number"] == "1887.234"
    assert draft["titles"] == [{"text": "Self-Portrait", "lang": "en", "preferred": True}]
    assert draft["creators"] == [
        {
            "name": "Walter Shirlaw",
            "source_id": 36656,
            "life_dates": "Walter Shirlaw\nAmerican, 1838–1909",
            "role": "artist",
        }
    ]
    assert (draft["date_display"], draft["date_earliest"], draft["date_latest"]) == ("1878", 1878, 1878)
    assert draft["work_type"] == "Painting" and draft["classification"] == "painting"
    assert draft["materials"] == ["oil paint (paint)", "organic material"]
    assert "techniques" not in draft  # technique_titles is []
    assert draft["measurements"] == [
        {"dimension": "height", "value": 70, "unit": "cm", "extent": None},
        {"dimension": "width", "value": 53, "unit": "cm", "extent": None},
    ]
    assert draft["dimensions_display"] == "70.2 × 53.4 cm (27 5/8 × 21 in.)"
    assert draft["rights"] == CC0  # is_public_domain: true
    assert draft["credit_line"] == "Gift of Joseph M. Rogers"
    assert draft["repository"] == "Arts of the Americas"
    assert draft["images"] == [
        {
            "url": "https://www.artic.edu/iiif/2/7b7a6f39-1cd8-ea2f-9811-18b0e23edac0/full/843,/0/default.jpg",
            "is_primary": True,
        }
    ]
    assert draft["source_url"] == "https://www.artic.edu/artworks/11"
    assert draft["iiif_manifest"] == "https://api.artic.edu/api/v1/artworks/11/manifest.json"


def test_aic_api_measurements_per_clarification_and_rights_in_copyright(shared_data: Path) -> None:
    m = compile_mapper(load_profile("aic_artworks_api"))
    raw = read_json(shared_data, "aic_artwork_20.json")
    draft = m.map(raw)
    # Image, Plate and Sheet each give a height and a width (the profile maps no extent).
    assert [(x["dimension"], x["value"]) for x in draft["measurements"]] == [
        ("height", 17),
        ("width", 15),
        ("height", 17),
        ("width", 15),
        ("height", 26),
        ("width", 18),
    ]
    assert {x["unit"] for x in draft["measurements"]} == {"cm"}
    raw["is_public_domain"] = False
    assert m.map(raw)["rights"] == INC


def test_aic_api_every_record_maps(shared_data: Path) -> None:
    m = compile_mapper(load_profile("aic_artworks_api"))
    drafts = {
        p.name: m.map(read_json(shared_data, p.name)) for p in sorted(shared_data.glob("json/aic_artwork_*.json"))
    }
    assert len(drafts) == 7
    assert {d["record_id"] for d in drafts.values()} == {9, 11, 16, 20, 22, 24, 25}
    assert drafts["aic_artwork_25.json"]["date_display"] == "c. 1615–75"
    assert (drafts["aic_artwork_25.json"]["date_earliest"], drafts["aic_artwork_25.json"]["date_latest"]) == (
        1615,
        1675,
    )
    assert drafts["aic_artwork_24.json"]["titles"][0]["text"] == "Portrait of Edouard Molé"
    assert all(d["rights"] == CC0 for d in drafts.values())


def test_tate_json_record(shared_data: Path) -> None:
    m = compile_mapper(load_profile("tate_artworks_json"))
    draft = m.map(read_json(shared_data, "tate_artwork_a00031-1065.json"))
    assert draft["record_id"] == 1065
    assert draft["object_number"] == "A00031"
    assert draft["titles"] == [{"text": "Job and his Daughters", "lang": "en", "preferred": True}]
    assert draft["creators"] == [
        {
            "name": "William Blake",
            "role": "artist",
            "source_id": 39,
            "life_dates": "1757–1827",
            "birth_year": 1757,
        }
    ]
    assert (draft["date_display"], draft["date_earliest"], draft["date_latest"]) == (
        "1825, reprinted 1874",
        1825,
        1825,
    )
    assert draft["classification"] == "on paper, unique"
    assert draft["medium_display"] == "Line engraving on paper"
    assert draft["measurements"] == [
        {"dimension": "height", "value": "151", "unit": "mm", "extent": None},
        {"dimension": "width", "value": "199", "unit": "mm", "extent": None},
    ]
    assert draft["acquisition_year"] == 1919
    assert draft["rights"] == CC0  # no thumbnailCopyright
    assert draft["images"] == [{"url": "http://www.tate.org.uk/art/images/work/A/A00/A00031_8.jpg", "is_primary": True}]
    assert draft["source_url"] == "http://www.tate.org.uk/art/artworks/blake-job-and-his-daughters-a00031"


def test_tate_json_rights_images_and_dates_across_files(shared_data: Path) -> None:
    m = compile_mapper(load_profile("tate_artworks_json"))
    drafts = {
        p.name.removeprefix("tate_artwork_").removesuffix(".json"): m.map(read_json(shared_data, p.name))
        for p in sorted(shared_data.glob("json/tate_artwork_*.json"))
    }
    assert len(drafts) == 10
    in_copyright = {k for k, d in drafts.items() if d["rights"] == INC}
    assert in_copyright == {"p79473-101118", "t02288-10258", "t07435-26286"}  # those name a copyright holder
    assert {k for k, d in drafts.items() if "images" not in d} == {
        "d04864-32256",
        "p01734-5777",
        "t02508-3104",
    }
    assert "measurements" not in drafts["t07435-26286"]  # empty height/width
    assert [x["dimension"] for x in drafts["t02288-10258"]["measurements"]] == ["height", "width", "depth"]
    rum = drafts["t02508-3104"]
    assert (rum["date_display"], rum["date_earliest"], rum["date_latest"]) == ("date not known", 1814, 1825)
    assert drafts["t02288-10258"]["creators"][0]["name"] == "Henry Moore OM, CH"
    assert drafts["p79473-101118"]["creators"][0]["life_dates"] == "born 1966"


def test_cooper_hewitt_record_skips_donors(shared_data: Path) -> None:
    profile = load_profile("cooperhewitt_objects_json")
    raw = read_json(shared_data, "cooperhewitt_object_18100461.json")
    draft = compile_mapper(profile).map(raw)
    assert draft == {
        "record_id": "18100461",
        "object_number": "1896-9-1",
        "titles": [{"text": "Ornament, late 19th century", "lang": "en", "preferred": True}],
        "work_type": "Ornament",
        "date_display": "late 19th century",
        "medium_display": "Medium: linen\nTechnique: needle lace with ground of loop & twist with loop & twist return",
        "credit_line": "Gift of Bell Gurnee",
        "acquisition_year": "1896",
        "source_url": "https://collection.cooperhewitt.org/objects/18100461/",
        "images": [
            {
                "url": "https://images.collection.cooperhewitt.org/67790_67bad24ea25cddaf_b.jpg",
                "is_primary": "1",
            }
        ],
        "institution": "Cooper Hewitt, Smithsonian Design Museum",
        "source_system": "Cooper Hewitt collection API",
        "rights": CC0,
        "language": "en",
    }
    # Its only participant is the donor; without skip_roles she would be listed as a maker.
    creators = {k: v for k, v in profile.map["creators"].items() if k != "skip_roles"}
    unskipped = compile_mapper(profile.model_copy(update={"map": {**profile.map, "creators": creators}}))
    assert unskipped.map(raw)["creators"] == [
        {"name": "Miss Bell Gurnee", "role": "Donor", "source_id": "18059553"}  # person_date "" is left out
    ]
