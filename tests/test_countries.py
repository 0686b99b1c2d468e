"""The country registry: 90 WVS-7/EVS countries, look-ups, named sets and their written rules."""
from __future__ import annotations

import doctest
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

import wvsalign.survey.countries as countries_module
from wvsalign.errors import InputError
from wvsalign.survey.countries import CONTINENTS, SAMPLES, STUDIES, WESTERN_ZONES, ZONES, Countries

DATA = Path(countries_module.__file__).parent.parent / "data"
REFERENCE = Path("/work/shared/reference/wvs7")
#: the five WVS-7 national samples the default set leaves out (fewer than 3.3 million people)
SMALL = ["AND", "MDV", "CYP", "ARM", "MNG"]
ZONE_SETS = {
    "african_islamic": "African-Islamic", "catholic_europe": "Catholic Europe", "confucian": "Confucian",
    "english_speaking": "English-speaking", "latin_america": "Latin America", "orthodox_europe": "Orthodox Europe",
    "protestant_europe": "Protestant Europe", "west_south_asia": "West & South Asia",
}


@pytest.fixture(scope="module")
def reg() -> Countries:
    return Countries.load()


@pytest.fixture(scope="module")
def csv() -> pd.DataFrame:
    """The CSV read independently of the registry code."""
    return pd.read_csv(DATA / "countries.csv", dtype=str, keep_default_na=False)


# ---- counts and uniqueness ---------------------------------------------------------------
def test_ninety_countries_and_set_sizes(reg, csv):
    assert len(reg) == len(csv) == 90
    sizes = {name: len(reg.set(name)) for name in reg.set_names}
    assert sizes["all"] == 90 and sizes["default"] == 55
    assert sizes["wvs7"] == 64 and sizes["evs"] == 36
    assert sizes["western"] + sizes["non_western"] == 90
    assert sum(sizes[s] for s in ZONE_SETS) == 90


def test_codes_and_names_are_unique(csv):
    for column in ("iso3", "wvs_alpha", "iso_numeric", "name"):
        assert csv[column].is_unique, column
    keys = pd.concat([csv["iso3"], csv["wvs_alpha"], csv["iso_numeric"], csv["name"]]).str.upper()
    owner = pd.concat([csv["iso3"]] * 4)
    aliases = csv.assign(alias=csv["aliases"].str.split(";")).explode("alias")
    aliases = aliases[aliases["alias"].str.len() > 0]
    keys = pd.concat([keys, aliases["alias"].str.upper()])
    owner = pd.concat([owner, aliases["iso3"]])
    pairs = pd.DataFrame({"key": keys.to_numpy(), "owner": owner.to_numpy()}).drop_duplicates()
    assert pairs["key"].is_unique, pairs[pairs["key"].duplicated(keep=False)]


def test_column_values_are_valid(csv):
    assert csv["iso3"].str.fullmatch(r"[A-Z]{3}").all()
    assert csv["iso_numeric"].str.fullmatch(r"[1-9]\d{0,2}").all()
    assert set(csv["zone"]) == set(ZONES)
    assert set(csv["continent"]) <= set(CONTINENTS)
    assert set(csv["study"]) == set(STUDIES)
    assert set(csv["sample"]) == set(SAMPLES)
    assert set(csv["western"]) == {"true", "false"}
    assert csv["languages"].str.fullmatch(r"[a-z]{2}(;[a-z]{2})*").all()
    assert set(csv.loc[csv["sample"] == "territory", "iso3"]) == {"HKG", "MAC", "PRI"}
    assert set(csv.loc[csv["sample"] == "subnational", "iso3"]) == {"NIR"}
    differs = csv[csv["iso3"] != csv["wvs_alpha"]]
    assert differs[["iso3", "wvs_alpha"]].values.tolist() == [["MAR", "MOR"]]


def test_every_column_and_the_western_rule_are_documented():
    header = [line for line in (DATA / "country_sets.yaml").read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    text = "\n".join(header)
    for column in pd.read_csv(DATA / "countries.csv", nrows=0).columns:
        assert f"#   {column} " in text, column
    assert "English-speaking, Protestant" in text and "Catholic Europe" in text


# ---- look-ups -----------------------------------------------------------------------------
def test_lookup_by_every_key(reg, csv):
    for row in csv.itertuples(index=False):
        keys = [row.iso3, row.wvs_alpha, row.iso_numeric, int(row.iso_numeric), row.name, row.name.lower(), f" {row.iso3.lower()} "]
        keys += [a for a in row.aliases.split(";") if a]
        for key in keys:
            assert key in reg, key
            assert reg.get(key).iso3 == row.iso3, key
        assert reg[row.iso3].languages == tuple(row.languages.split(";"))


def test_known_codes(reg):
    assert reg.get("MOR").iso3 == "MAR" and reg.get(504).wvs_alpha == "MOR"
    assert reg.get("NIR").iso_numeric == 909 and reg.get("Northern Ireland").sample == "subnational"
    assert reg.get("076").name == "Brazil" and reg.get(76.0).iso3 == "BRA"
    assert reg.get("Taiwan ROC").iso3 == "TWN" and reg.get("Bosnia Herzegovina").iso3 == "BIH"
    assert reg.get("United Kingdom").iso3 == "GBR" and reg.get("Russian Federation").iso3 == "RUS"
    assert reg.get("USA").language == "en" and reg.get("JPN").zone == "Confucian"
    assert reg.get("DEU").study == "WVS+EVS" and reg.get("SWE").study == "EVS" and reg.get("HKG").in_wvs7


def test_unknown_country_and_set_errors(reg):
    with pytest.raises(InputError, match=r"unknown country 'XYZ'; expected an ISO3 code"):
        reg.get("XYZ")
    with pytest.raises(InputError, match="unknown country 999"):
        reg.get(999)
    assert "XYZ" not in reg
    with pytest.raises(InputError, match=r"unknown country set 'nordic'; expected one of \['all', 'wvs7'"):
        reg.set("nordic")
    with pytest.raises(InputError, match="unknown country set 'nordic'"):
        reg.set_rule("nordic")
    with pytest.raises(InputError, match="unknown country 'Atlantis'"):
        reg.resolve("USA,Atlantis")


def test_resolve_mixes_codes_names_and_sets(reg):
    western = reg.set("western")
    got = reg.resolve("USA, JPN, western")
    assert got[:2] == ["USA", "JPN"] and set(got) == {"JPN"} | set(western) and len(got) == len(set(got))
    assert reg.resolve(["Japan", 840, "MOR"]) == ["JPN", "USA", "MAR"]


# ---- sets obey their written rules -----------------------------------------------------------
def test_default_rule_reproduced_from_the_csv(reg, csv):
    """WVS-7 national samples (study WVS or WVS+EVS, sample national), less the five small ones."""
    national_wvs7 = csv[csv["study"].isin(["WVS", "WVS+EVS"]) & (csv["sample"] == "national")]
    assert len(national_wvs7) == 60 and set(SMALL) <= set(national_wvs7["iso3"])
    expected = [c for c in national_wvs7["iso3"] if c not in SMALL]
    assert reg.set("default") == expected and len(expected) == 55
    for code in SMALL:
        assert reg.get(code).name in reg.set_rule("default")


def test_each_set_obeys_its_rule(reg, csv):
    def members(mask) -> list[str]:
        return csv.loc[mask, "iso3"].tolist()

    assert reg.set("all") == csv["iso3"].tolist()
    assert reg.set("wvs7") == members(csv["study"].isin(["WVS", "WVS+EVS"]))
    assert reg.set("evs") == members(csv["study"].isin(["EVS", "WVS+EVS"]))
    assert reg.set("western") == members(csv["western"] == "true")
    assert reg.set("non_western") == members(csv["western"] == "false")
    for name, zone in ZONE_SETS.items():
        assert reg.set(name) == members(csv["zone"] == zone), name
        assert zone in reg.set_rule(name)
    for name in reg.set_names:
        assert reg.set_rule(name).strip(), name


def test_western_flag_equals_its_written_rule(csv):
    rule = csv["zone"].isin(WESTERN_ZONES)
    assert ((csv["western"] == "true") == rule).all()
    assert set(csv.loc[rule, "zone"]) == {"English-speaking", "Protestant Europe", "Catholic Europe"}


# ---- frames and custom registries ----------------------------------------------------------------
def test_to_frame_round_trips(reg, csv):
    frame = reg.to_frame()
    assert list(frame.columns) == list(csv.columns)
    again = Countries(frame, {"all": {"rule": "everyone"}})
    assert list(again) == list(reg)
    assert reg.to_frame(["Japan", "MOR"])["iso3"].tolist() == ["JPN", "MAR"]
    sets = reg.sets_frame()
    assert sets.set_index("set").loc["default", "n"] == 55
    assert doctest.testmod(countries_module).failed == 0


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.drop(columns="zone"), r"lacks column\(s\) \['zone'\]"),
        # rows are counted from 1 at the first data row, as the WVS readers count them
        (lambda t: pd.concat([t, t.iloc[[0]]]), r"column 'iso3', row 91: duplicate iso3"),
        (lambda t: t.assign(zone=t["zone"].where(t.index != 3, "Nordic")), r"column 'zone', row 4: expected one of"),
        (lambda t: t.assign(western=t["western"].where(t.index != 2, "maybe")), r"column 'western', row 3: expected true or false"),
        (lambda t: t.assign(iso_numeric=t["iso_numeric"].where(t.index != 1, "x")), r"column 'iso_numeric', row 2"),
        (lambda t: t.assign(languages=t["languages"].where(t.index != 0, "eng")), r"column 'languages', row 1"),
        (lambda t: t.assign(name=t["name"].where(t.index != 5, "Japan")), r"column 'name', row 40: look-up key 'Japan' of JPN is already used by AUT"),
        # row 3 is Argentina (Latin America): flagged western against the Western rule
        (lambda t: t.assign(western=t["western"].where(t.index != 2, "true")),
         r"column 'western', row 3: western is true for zone 'Latin America'; expected true exactly for the zones"),
    ],
)
def test_bad_country_tables_name_the_place(csv, change, message):
    with pytest.raises(InputError, match=message) as info:
        Countries(change(csv.copy()).reset_index(drop=True), source="my.csv")
    assert str(info.value).startswith("my.csv") and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"where": {"zone": ["Confucian"]}}, "no written rule"),
        ({"rule": "r", "where": {"region": ["x"]}}, "filters on unknown column 'region'"),
        ({"rule": "r", "members": ["USA", "ZZZ"]}, "members names unknown country 'ZZZ'"),
        ({"rule": "r", "wher": {}}, r"unknown key\(s\) \['wher'\]"),
    ],
)
def test_bad_set_specs_are_rejected(csv, spec, message):
    with pytest.raises(InputError, match=f"country set 'mine': {message}"):
        Countries(csv, {"mine": spec})


def test_from_files_reads_a_user_registry(tmp_path, csv):
    sets = {"sets": {"pair": {"rule": "two", "members": ["JPN", "USA"]}, "asia": {"rule": "Asia", "where": {"continent": "Asia"}}}}
    (tmp_path / "sets.yaml").write_text(yaml.safe_dump(sets), encoding="utf-8")
    csv.to_csv(tmp_path / "c.csv", index=False)
    mine = Countries.from_files(tmp_path / "c.csv", tmp_path / "sets.yaml")
    assert mine.set("pair") == ["JPN", "USA"] and "JPN" in mine.set("asia") and "DEU" not in mine.set("asia")
    with pytest.raises(InputError, match="no such country table"):
        Countries.from_files(tmp_path / "none.csv")
    (tmp_path / "bad.yaml").write_text("sets: [", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.yaml: not valid YAML"):
        Countries.from_files(tmp_path / "c.csv", tmp_path / "bad.yaml")


def test_table_read_with_plain_read_csv(reg):
    """pandas' defaults turn empty alias cells into NaN: they mean "no aliases", not an alias "nan"."""
    table = pd.read_csv(DATA / "countries.csv")
    assert table["aliases"].isna().any()
    plain = Countries(table)
    assert list(plain) == list(reg)
    assert plain.get("ALB").aliases == () and "nan" not in plain


def test_set_order_members_as_listed_filters_in_registry_order(csv):
    sets = {
        "listed": {"rule": "as listed", "members": ["USA", "JPN", "DEU"]},
        "filtered": {"rule": "Confucian, then Mexico and Albania", "where": {"zone": "Confucian"},
                     "exclude": ["JPN"], "include": ["MEX", "ALB"]},
    }
    mine = Countries(csv, sets)
    assert mine.set("listed") == ["USA", "JPN", "DEU"]
    confucian = csv.loc[(csv["zone"] == "Confucian") & (csv["iso3"] != "JPN"), "iso3"].tolist()
    assert mine.set("filtered") == confucian + ["MEX", "ALB"]


# ---- cross-check against the WVS-7 codebook (skipped where it is absent, e.g. in CI) ------------
@pytest.mark.skipif(not (REFERENCE / "codebook.json").exists(), reason="WVS-7 reference files not present")
def test_registry_matches_the_joint_file_country_codes(reg):
    book = json.loads((REFERENCE / "codebook.json").read_text(encoding="utf-8"))
    numeric = {int(k): v for k, v in book["B_COUNTRY"]["choices"].items()}
    assert {c.iso_numeric for c in reg} == set(numeric)
    for code, label in numeric.items():
        assert label in reg and reg.get(label).iso_numeric == code, label  # the file's label resolves
    alpha = book["B_COUNTRY_ALPHA"]["choices"]
    for code, label in alpha.items():
        assert reg.get(code).wvs_alpha == code, code
    assert {c.wvs_alpha for c in reg} - set(alpha) == {"HKG", "SWE"}  # missing from the codebook's alpha list
