"""The ``wave`` job configuration (femhomog.wave.config): template, defaults, one-line errors."""

from __future__ import annotations

import tomllib

import pytest

from femhomog import ConfigError
from femhomog.wave.config import WAVE_SCHEMA, load_wave_config

FIG1 = """
[wave]
eps = 0.1
lower = [-84.0]
upper = [84.0]
u0 = "exp(-4*x[0]**2)"
[cell]
dim = 1
coefficient = "sqrt(2) - cos(2*pi*y[0])"
[homogenization]
order = 2
[time]
t_end = 10000
outputs = [10, 100, 1000, 10000]
"""


def test_template_is_a_valid_configuration():
    text = WAVE_SCHEMA.template()
    tomllib.loads(text)
    cfg = load_wave_config(None, text=text)
    assert len(cfg.wave.lower) == cfg.cell.dim == 2
    assert cfg.effective.orders == list(range(cfg.homogenization.order + 1))


def test_fig1_defaults_and_raw():
    cfg = load_wave_config(None, text=FIG1)
    assert cfg.effective.orders == [0, 1, 2]
    assert cfg.raw["effective"]["orders"] == [0, 1, 2]
    assert cfg.time.outputs == [10.0, 100.0, 1000.0, 10000.0]
    assert cfg.fine.propagator == "chebyshev" and cfg.wave.boundary == "periodic"
    over = load_wave_config(None, ["effective.orders=[0, 2]", "fine.degree=8"], text=FIG1)
    assert over.effective.orders == [0, 2] and over.fine.degree == 8


@pytest.mark.parametrize("override,message", [
    ("cell.dim=2", "cell.dim = 2 does not match the 1D box"),
    ("wave.upper=[-90.0]", "wave.upper[0] must be > wave.lower[0]"),
    ("wave.upper=[84.0, 1.0]", "same length"),
    ("effective.orders=[3]", "effective.orders needs homogenization.order >= 3"),
    ("effective.orders=[1, 1]", "lists an order twice"),
    ("wave.boundary=dirichlet", "need wave.boundary = 'periodic'"),
    ("wave.u0=\"exp(-4*y[0]**2)\"", "wave.u0"),
    ("wave.source=\"x[0]\"", "f = 0 only"),
    ("time.outputs=[20000]", "must not exceed time.t_end"),
    ("output.cut_through=[0.0, 1.0]", "output.cut_through must have 1 entries"),
    ("output.cut_axis=1", "output.cut_axis must be < 1"),
    ("fine.cfl_safety=1.5", "fine.cfl_safety"),
    ("wave.eps=0", "wave.eps must be"),
    ("wave.epsilon=0.1", "did you mean 'eps'"),
])
def test_bad_input_one_line(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")) as err:
        load_wave_config(None, [override], text=FIG1)
    assert "\n" not in str(err.value)


def test_materials_need_the_effective_only_mode():
    text = FIG1.replace('coefficient = "sqrt(2) - cos(2*pi*y[0])"',
                        'materials = {1 = 1.0, 2 = 10.0}\n[geometry]\nbuilder = "laminate"')
    with pytest.raises(ConfigError, match="fine-scale solver needs cell.coefficient"):
        load_wave_config(None, text=text)
    cfg = load_wave_config(None, ["fine.enabled=false"], text=text)
    assert not cfg.fine.enabled


def test_discretization_hint_for_long_runs():
    """The job advises refinement when t_end spans many periods at a coarse resolution
    (Fig. 1 at t = 10^4 with the default (8, 2): measured not converged), not otherwise."""
    from femhomog.wave.experiments import fig1_config
    from femhomog.wave.job import discretization_hint

    hint = discretization_hint(fig1_config(t_end=1e4, outputs=[1e4], orders=()))
    assert hint is not None and "fine.degree = 8" in hint
    assert discretization_hint(fig1_config(t_end=10.0, outputs=[10.0], orders=())) is None
    assert discretization_hint(fig1_config(degree=12, cells_per_period=4, t_end=1e4,
                                           outputs=[1e4], orders=())) is None
