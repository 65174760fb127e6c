import re
from pathlib import Path

import pytest

from icsgeo import UnknownDatasetError, catalogue
from icsgeo.sources.catalogue import KINDS, boundaries_dir
from icsgeo.sources.read import READERS

from .helpers import national_files


def test_every_entry_is_complete():
    cat = catalogue()
    assert len(cat) >= 35
    for e in cat:
        assert re.fullmatch(r"[0-9a-f]{64}", e.sha256), e.id
        assert e.kind in KINDS
        assert e.reader in READERS or e.reader == "text", e.id
        assert e.title and e.publisher and e.licence and e.attribution and e.vintage and e.date, e.id
        assert not Path(e.file).is_absolute() and ".." not in Path(e.file).parts, e.id
        assert e.url or e.landing, f"{e.id}: a user must be told where to get the file"
        if e.reader not in ("text", "codelist"):
            assert e.columns, f"{e.id} has no column roles"


def test_column_roles_use_the_canonical_vocabulary():
    cat = catalogue()
    for e in cat.select(kind="boundary"):
        assert "code" in e.columns
    for e in cat.select(kind="lookup"):
        assert all(re.fullmatch(r"[a-z0-9_]+", role) for role in e.columns), e.id
    # the same role reads different source spellings in different vintages
    assert catalogue().get("icb-2023").columns["code"] == "ICB23CD"
    assert catalogue().get("icb-2026").columns["code"] == "ICB26CD"
    assert catalogue().get("lsoa21-sicbl-icb-lad-2024").columns["icb_code"] == "ICB24CD"
    assert catalogue().get("lsoa11-sicbl-icb-lad-2022").columns["icb_code"] == "icb22_code"


def test_unknown_dataset_error_suggests_close_ids():
    with pytest.raises(UnknownDatasetError, match="icb-2026"):
        catalogue().get("icb-2027")


def test_unknown_table_error_lists_tables():
    with pytest.raises(UnknownDatasetError, match="membership"):
        catalogue().get("epcn-2024-10").table("nope")


def test_catalogue_ships_with_the_package():
    # `pip install .` copies boundaries/ into the package; a source checkout finds it beside it
    assert (boundaries_dir() / "catalogue.toml").is_file()


@pytest.mark.realdata
def test_catalogue_lists_every_file_in_the_mirror(real_data_dir):
    on_disk = national_files(real_data_dir)
    listed = {e.file for e in catalogue()}
    assert on_disk - listed == set(), "files in the mirror that the catalogue does not know"
    assert listed - on_disk == set(), "catalogue files absent from the mirror"


@pytest.mark.realdata
def test_local_definitions_are_deliberately_not_national_datasets(real_data_dir):
    # local/ holds what a council or ICB keeps for itself (Sheffield's 16 neighbourhoods by LSOA 2011):
    # user input for a system definition, never a catalogue entry that every answer would depend on
    local = catalogue().local_folders
    assert local == ("local",)
    held = [p for p in (real_data_dir / "local").rglob("*") if p.is_file() and p.suffix != ".md"]
    assert held, "the mirror's local/ folder is expected to hold a local neighbourhood layer"
    assert not [e.id for e in catalogue() if Path(e.file).parts[0] in local]


@pytest.mark.realdata
def test_new_national_files_read_with_their_facts(real_data_dir):
    from icsgeo import read

    imd = read("imd-2025")
    assert len(imd) == 33_755 and imd["lsoa21_code"].is_unique
    assert imd["imd_decile"].between(1, 10).all() and imd["imd_rank"].min() == 1 and imd["imd_rank"].max() == 33_755
    bgc = read("lsoa21-bgc")
    assert len(bgc) == 35_672 and bgc.crs.to_epsg() == 27700
    assert int(bgc["repaired"].sum()) == 8  # invalid as published, repaired on read
    assert bgc.geometry.is_valid.all()


def test_every_role_a_derived_layer_reads_is_declared_for_the_tiers():
    """The index of a vintage is keyed on the roles its tiers declare: a layer that read an undeclared
    role would leave the index stale when that file changed."""
    from icsgeo import areas, locate, neighbourhoods, registrations

    read_by_layers = {*areas.BASE_ROLES, *locate.LOCATE_ROLES, *registrations.REGISTRATION_ROLES, *neighbourhoods.MODEL_ROLES,
                      "lad_names", "lsoa_shapes", "systems", "places", "place_system_lookup", "practice_map"}
    for v in catalogue().vintages.values():
        assert read_by_layers <= set(v.inputs()), (v.key, read_by_layers - set(v.inputs()))
        assert set(locate.LOCATE_ROLES) <= set(v.inputs("lsoa"))
        assert {*neighbourhoods.MODEL_ROLES, *registrations.REGISTRATION_ROLES} <= set(v.inputs("neighbourhood"))


def test_roles_name_known_datasets_and_optional_roles_say_what_is_lost():
    cat = catalogue()
    for v in cat.vintages.values():
        for role in v.roles.values():
            assert role.datasets and all(i in cat for i in role.datasets), role
            assert role.without is None or len(role.without) > 20, role
        assert cat.get(v.id("practice_map")).reader == "practice_map"
    assert cat.role("registrations").combine and cat.role("registrations").optional
    assert not cat.role("lsoa_lookup").optional  # every answer needs it


def test_a_catalogue_that_names_an_unknown_dataset_or_role_is_refused():
    from icsgeo.sources.catalogue import Catalogue

    base = {"datasets": {}, "roles": {"postcodes": "nowhere"},
            "vintages": {"2030": {"place_role": "sicbl", "system_role": "icb", "system_link": "lookup"}}}
    with pytest.raises(UnknownDatasetError, match="unknown datasets"):
        Catalogue.from_dict(base)
    with pytest.raises(UnknownDatasetError, match="undeclared roles"):
        Catalogue.from_dict({**base, "roles": {}, "tiers": {"lsoa": ["postcodes"]}})
    with pytest.raises(UnknownDatasetError, match="lacks"):
        Catalogue.from_dict({"vintages": {"2030": {"place_role": "sicbl"}}})
