"""Penalties in `ptyrax reconstruct` on the shipped measured scan: what they change, what the
engine reports, and bad `[[loss.penalties]]` tables."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from ptyrax_reconstruct import reconstruct

from ptyrax_core.cli import main

ROOT = next(p for p in pathlib.Path(__file__).resolve().parents if (p / "examples").is_dir())
EXAMPLE = ROOT / "examples" / "petra-p25-near-field.toml"
SHORT = [{"epochs": 3, "learning_rate": 0.04, "batch_size": 50}]
STILL = [{"epochs": 1, "learning_rate": 0.0, "batch_size": 50}]  # every component held still
COMPONENTS = ("object", "probe", "positions", "weights", "background")


def toml_value(value) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def config_file(folder: pathlib.Path, penalties=(), stages=SHORT) -> pathlib.Path:
    """The example config with a short schedule and `[[loss.penalties]]` tables (dicts)."""
    text = EXAMPLE.read_text().split("[[fit.stages]]")[0]
    text = text.replace('file = "data/', f'file = "{ROOT / "examples" / "data"}/')
    tables = [("fit.stages", s) for s in stages] + [("loss.penalties", p) for p in penalties]
    for name, table in tables:
        text += f"\n[[{name}]]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(text)
    return path


def phase_tv(obj: np.ndarray) -> float:
    """The object phase's total variation per pixel, float64: forward differences, none past
    the edge (the penalty's definition with eps = 0)."""
    phase = np.angle(obj.astype(np.complex128))
    rows, columns = np.zeros_like(phase), np.zeros_like(phase)
    rows[:-1] = np.diff(phase, axis=0)
    columns[:, :-1] = np.diff(phase, axis=1)
    return float(np.mean(np.hypot(rows, columns)))


def tv_on_phase(weight: float) -> dict:
    return {
        "type": "total_variation",
        "component": "object",
        "on": "phase",
        "weight": weight,
        "eps": 1e-3,
    }


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A short run without penalties."""
    return reconstruct(config_file(tmp_path_factory.mktemp("plain")))


def assert_same_run(a, b):
    assert a.epoch_loss == b.epoch_loss and a.epoch_deviance == b.epoch_deviance
    assert a.final_deviance == b.final_deviance and a.final_loss == b.final_loss
    for name in COMPONENTS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_a_penalty_of_weight_zero_changes_nothing(plain, tmp_path):
    """Exactly: the data term's operations are the same on the same values, and the penalty
    enters only the differentiated sum, as `+ 0 * penalty` (`x + 0 == x`) and, in the
    gradient, as `+ 0 * g` with `g` finite (TV's gradient is, with eps > 0)."""
    zero = reconstruct(config_file(tmp_path, [tv_on_phase(0.0)]))
    assert_same_run(zero, plain)


def test_tv_on_the_object_phase_smooths_it_and_the_reported_deviance_stays_the_data_term(
    plain, tmp_path
):
    smoothed = reconstruct(config_file(tmp_path / "tv", [tv_on_phase(10.0)]))
    assert phase_tv(smoothed.object) < phase_tv(plain.object)
    assert np.isfinite(smoothed.final_deviance) and smoothed.epoch_loss[-1] < smoothed.epoch_loss[0]

    # held still at the smoothed run's arrays, with and without the penalty: the same
    # reported loss and deviance (the penalty, 10 times a TV that is not 0 here, would show)
    assert phase_tv(smoothed.object) > 0
    start = {name: getattr(smoothed, name) for name in COMPONENTS}
    held = [
        reconstruct(config_file(tmp_path / f"held{i}", p, STILL), initial=start)
        for i, p in enumerate([[tv_on_phase(10.0)], []])
    ]
    assert_same_run(*held)
    assert np.array_equal(held[0].object, smoothed.object)  # held still, indeed


def _fails(capsys, config, message):
    """`ptyrax reconstruct CONFIG` exits 2 with one line starting `message`."""
    assert main(["reconstruct", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ptyrax reconstruct: error: config: {message}"), err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            {"component": "illumination"},
            "loss.penalties[0].component: the model has no 'illumination'; its components: "
            "object, probe, positions, weights, background",
        ),
        (
            {"type": "total_varation"},
            "loss.penalties[0].type: No penalty is registered as 'total_varation'. "
            "Registered: ",
        ),
        ({"type": "non_negative"}, "loss.penalties[0].type: 'non_negative' is a parametrization"),
        ({"epsilon": 0.1}, "loss.penalties[0]: total_variation cannot be made from "
         "{'epsilon': 0.1}: TotalVariationPenalty.__init__() got an unexpected keyword "
         "argument 'epsilon'"),
        ({"eps": -1.0}, "loss.penalties[0]: total_variation cannot be made from {'eps': -1.0}: "
         "eps must be >= 0; got -1"),
        ({"axes": "radial"}, "loss.penalties[0]: total_variation cannot be made from "
         "{'axes': 'radial'}: axes must be one of ('lateral', 'depth'); got 'radial'"),
        ({"type": "probe_power", "component": "probe"}, "loss.penalties[0]: probe_power cannot "
         "be made from {}: ProbePowerPenalty.__init__() missing 1 required positional argument: "
         "'target'"),
        ({"axes": "depth"}, "loss.penalties[0]: TotalVariationPenalty cannot act on the object "
         "(value): "),  # a single-slice object: refused before the fit, not while tracing it
    ],
)  # fmt: skip
def test_a_bad_penalty_table_is_one_line_and_exit_2(table, message, tmp_path, capsys):
    base = {"type": "total_variation", "component": "object", "weight": 1.0}
    err = _fails(capsys, config_file(tmp_path, [{**base, **table}]), message)
    if "Registered: " in message:  # this plugin's among whatever else is installed
        registered = err.split("Registered: ")[1].rstrip(".\n").split(", ")
        assert {"l1", "l2", "probe_power", "total_variation"} <= set(registered), err


def test_without_this_plugin_its_names_say_what_to_install(tmp_path):
    config = config_file(tmp_path, [tv_on_phase(1.0)])
    env = {**os.environ, "PTYRAX_PLUGINS": "reconstruct,nonnegative"}  # as if not installed
    run = subprocess.run(
        [sys.executable, "-m", "ptyrax_core.cli", "reconstruct", str(config), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.startswith(
        "ptyrax reconstruct: error: config: loss.penalties[0].type: No penalty is registered "
        "as 'total_variation'. It is provided by the distribution ptyrax-penalties: "
        "pip install ptyrax-penalties"
    ), run.stderr
    assert run.stderr.count("\n") == 1
