"""Hyper-parameters from strings: exact numbers, list values, model specs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from trustrec.errors import ConfigError
from trustrec.experiment import ModelSpec, split_params
from trustrec.models import create_model
from trustrec.models.config import Config


@dataclass(frozen=True)
class _Params(Config):
    count: int = 1
    rate: float = 0.5
    flag: bool = False
    widths: tuple[int, ...] = (4, 2)
    names: tuple[str, ...] = ("a",)
    limit: int | None = None


@pytest.mark.parametrize(("raw", "value"), [("12", 12), ("1e3", 1000), (" 7 ", 7),
                                             ("12.0", 12), (3.0, 3), (5, 5), ("-2", -2)])
def test_integers_convert_exactly(raw, value) -> None:
    assert _Params.from_params({"count": raw}).count == value


@pytest.mark.parametrize("raw", ["1.5e0", "2.5", 2.5, "1e-3", "nan", "inf", "ten", True])
def test_inexact_integers_are_refused_naming_the_field(raw) -> None:
    with pytest.raises(ConfigError, match="parameter 'count' expects"):
        _Params.from_params({"count": raw}, model="m")


def test_floats_bools_and_optionals() -> None:
    cfg = _Params.from_params({"rate": "1.5e0", "flag": "yes", "limit": "none"})
    assert (cfg.rate, cfg.flag, cfg.limit) == (1.5, True, None)
    assert _Params.from_params({"limit": "1e2"}).limit == 100
    for key, raw in (("rate", "fast"), ("rate", False), ("flag", "maybe"), ("limit", "0.5")):
        with pytest.raises(ConfigError, match=f"parameter '{key}' expects"):
            _Params.from_params({key: raw})


@pytest.mark.parametrize("raw", ["64,32,16", "[64, 32, 16]", "(64,32,16)", [64, 32, 16],
                                 ["64", "32", "16"], " 64 , 32 ,16 "])
def test_list_values(raw) -> None:
    assert _Params.from_params({"widths": raw}).widths == (64, 32, 16)


def test_list_elements_follow_the_element_rules() -> None:
    assert _Params.from_params({"names": "genres, tags"}).names == ("genres", "tags")
    with pytest.raises(ConfigError, match="parameter 'widths' expects a whole number"):
        _Params.from_params({"widths": "64,1.5,16"})


def test_model_spec_keeps_commas_of_list_values() -> None:
    assert split_params("layers=64,32,16,factors=8") == ["layers=64,32,16", "factors=8"]
    spec = ModelSpec.parse("ncf:layers=64,32,16, factors=8,epochs=1e1")
    assert dict(spec.params) == {"layers": "64,32,16", "factors": "8", "epochs": "1e1"}
    cfg = spec.build().config
    assert (cfg.layers, cfg.factors, cfg.epochs) == ((64, 32, 16), 8, 10)
    assert ModelSpec.parse("ease:l2=200,implicit=true").params == {"l2": "200",
                                                                   "implicit": "true"}
    with pytest.raises(ConfigError, match="parameter 'epochs' expects a whole number"):
        ModelSpec.parse("ncf:epochs=1.5e0").build()
    with pytest.raises(ConfigError, match="layers"):
        create_model("ncf", {"layers": "15,8"})


def test_builtin_registry_declares_each_model_where_it_lives() -> None:
    """Each name of the declarative registry resolves to a class registered under that
    name, and its declared configuration class is the one the model uses."""
    from trustrec.models.registry import BUILTIN, get_config_class, get_model_class

    for name in BUILTIN:
        cls = get_model_class(name)
        assert cls.name == name
        assert get_config_class(name) is cls.config_class
