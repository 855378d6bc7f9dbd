from dataclasses import dataclass
from typing import Literal

import pytest
from jsonargparse.typing import PositiveFloat, PositiveInt

from geomgen.singular.manifolds import Sphere
from geomgen.singular.studies.schema import SchemaError, check, describe


@dataclass
class Options:
    steps: PositiveInt
    method: Literal["mc", "iw"] = "mc"
    sizes: list[PositiveInt] | None = None
    width: PositiveFloat | Literal["auto"] = "auto"


def test_values_defaults_and_plain_types():
    out = check(Options, {"steps": 3, "sizes": 5, "width": "0.5"})
    assert out == {"steps": 3, "method": "mc", "sizes": [5], "width": 0.5}  # a single value is a list of one
    assert type(out["steps"]) is int and type(out["sizes"][0]) is int and type(out["width"]) is float
    assert check(Options, {"steps": 1, "method": "iw"}, skip=("sizes",)) == {"steps": 1, "method": "iw", "width": "auto"}


@pytest.mark.parametrize("raw,message", [
    ({"steps": 1, "stepz": 2}, "opts.stepz: unknown key; allowed: ['steps', 'method', 'sizes', 'width']"),
    ({}, "opts.steps: missing"),
    ({"steps": 0}, "opts.steps: expected int restricted to be >0, got 0"),
    ({"steps": 1, "method": "exact"}, "opts.method: expected one of ['mc', 'iw'], got 'exact'"),
    ({"steps": 1, "sizes": [4, 2, -1]}, "opts.sizes[2]: expected int restricted to be >0, got -1"),
    ({"steps": 1, "width": "wide"}, "opts.width: expected float restricted to be >0 or one of ['auto'], got 'wide'"),
    ([1, 2], "opts: expected a mapping with keys among ['steps', 'method', 'sizes', 'width'], got [1, 2]"),
])
def test_errors_name_the_key_and_what_it_accepts(raw, message):
    with pytest.raises(SchemaError) as info:
        check(Options, raw, "opts.")
    assert str(info.value) == message


def test_constructor_of_a_class():
    assert check(Sphere, {"kappa": 1, "loc": [0, 1, 0]})["loc"] == [0.0, 1.0, 0.0]
    with pytest.raises(SchemaError, match=r"^loc\[1\]: expected a number, got 'y'$"):
        check(Sphere, {"loc": [0, "y", 0]})
    assert describe(int | None) == "an int or null" and describe(list[bool]) == "a list of true or false"
