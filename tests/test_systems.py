import pytest

from icsgeo.errors import DefinitionError
from icsgeo.systems import parse_system_definition, system_definitions

GOOD = {"id": "toy-ics", "name": "Toy ICS", "places": [{"name": "North", "lad": ["E08000019"]}, {"name": "South", "sicbl": ["03N", "E38000006"]}]}


def test_shipped_definitions_load_and_are_valid():
    defs = system_definitions()
    assert {"south-yorkshire-and-bassetlaw-2021", "leicester-leicestershire-and-rutland", "suffolk-and-north-east-essex-2021"} <= set(defs)
    syb = defs["south-yorkshire-and-bassetlaw-2021"]
    assert [p.name for p in syb.places] == ["Barnsley", "Bassetlaw", "Doncaster", "Rotherham", "Sheffield"]
    llr = defs["leicester-leicestershire-and-rutland"]
    assert all(set(p.units) == {"ctyua"} for p in llr.places) and len(llr.places) == 3


def test_a_good_definition_parses():
    d = parse_system_definition(GOOD)
    assert d.places[0].code == "E08000019" and d.places[1].units["sicbl"] == ("03N", "E38000006")


@pytest.mark.parametrize("raw, message", [
    ("just a string", "must be a mapping"),
    ({**GOOD, "id": "../../etc/passwd"}, "id"),
    ({**GOOD, "places": []}, "non-empty"),
    ({**GOOD, "places": [{"name": "A"}]}, "no units"),
    ({**GOOD, "places": [{"name": "A", "lad": ["E08000019"]}, {"name": "A", "lad": ["E08000016"]}]}, "used twice"),
    ({**GOOD, "places": [{"name": "A", "lad": ["E08000019"]}, {"name": "B", "lad": ["E08000019"]}]}, "in both"),
    ({**GOOD, "places": [{"name": "A", "lad": ["not-a-code"]}]}, "are not lad codes"),
    ({**GOOD, "places": [{"name": "A", "postcode": ["S1 2HE"]}]}, "unknown keys"),
    ({**GOOD, "colour": "red"}, "unknown keys"),
])
def test_bad_definitions_give_clear_errors(raw, message):
    with pytest.raises(DefinitionError, match=message):
        parse_system_definition(raw, origin="toy.yaml")
