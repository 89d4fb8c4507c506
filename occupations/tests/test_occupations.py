"""The ESCO occupation vocabulary loads from careers-occupations, typed."""

from importlib import resources

from careers_occupations import EscoOccupation, load_occupations


def test_vocabulary_loads_from_its_own_package() -> None:
    data = resources.files("careers_occupations").joinpath("data")
    assert data.joinpath("esco_occupations.json.gz").is_file()
    assert data.joinpath("ATTRIBUTION.md").is_file()
    occupations = load_occupations()
    assert len(occupations) == 3631
    assert all(isinstance(o, EscoOccupation) for o in occupations)
    assert len({o.id for o in occupations}) == len(occupations)
    assert all(o.labels and o.labels == o.labels.lower() and o.definition for o in occupations)
    plasterer = [o for o in occupations if o.labels.startswith("plasterer")]
    assert plasterer and "plaster" in plasterer[0].definition.lower()
    assert load_occupations() is occupations  # read once per process
