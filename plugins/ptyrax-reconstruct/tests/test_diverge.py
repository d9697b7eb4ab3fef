"""Runs that go wrong: a fit that goes non-finite stops with exit 3 and its last finite state
kept; a loss that drifts up is warned about; batches larger than the scan are clamped."""

import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_reconstruct import (
    DivergedError,
    ReconstructError,
    ReconstructWarning,
    RisingLossWarning,
    load_config,
    reconstruct,
)
from ptyrax_reconstruct._fit import minibatches
from ptyrax_reconstruct._run import RISING, _rising, prepare
from test_run import short_config

import ptyrax_core
from ptyrax_core.cli import main

GOOD = {"epochs": 2, "learning_rate": 0.04, "batch_size": 20}
BLOWS_UP = {"epochs": 2, "learning_rate": 1e30, "batch_size": 20}


def test_a_diverging_stage_stops_with_exit_3_and_keeps_the_last_finite_state(tmp_path, capsys):
    """Two good epochs, then a rate of 1e30: exit 3 in epoch 3 with one line naming the epoch,
    the step and what went non-finite first; the checkpoint holds epoch 2's end, finite; no
    other output is written; `--resume` with a lower rate continues from it to the end."""
    config = short_config(tmp_path, stages=[GOOD, BLOWS_UP], checkpoint_every=0)
    out = tmp_path / "out"
    assert main(["reconstruct", str(config), "--out", str(out), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("ptyrax reconstruct: error: the fit went non-finite in epoch 3 (step ")
    assert f"{out / 'checkpoint.ptyrax'} holds the last finite state (epoch 2)" in err
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.ptyrax"]
    saved = ptyrax_core.load(out / "checkpoint.ptyrax")
    assert saved["epoch"] == 2 and len(saved["history"]["epoch_loss"]) == 2
    leaves = jax.tree.leaves((saved["model"], saved["optimizer"]))
    assert all(
        np.isfinite(np.asarray(x)).all() for x in leaves if jnp.issubdtype(x.dtype, jnp.inexact)
    )

    slower = tmp_path / "slower.toml"
    slower.write_text(config.read_text().replace("learning_rate = 1e+30", "learning_rate = 0.005"))
    assert "learning_rate = 0.005" in slower.read_text()
    resume = ["--resume", str(out / "checkpoint.ptyrax")]
    assert main(["reconstruct", str(slower), "--out", str(out), "--quiet", *resume]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epoch_loss"]) == 4 and np.isfinite(metrics["epoch_loss"]).all()
    assert np.isfinite(metrics["final_deviance"])


def test_the_python_api_raises_diverged_error_naming_epoch_and_component(tmp_path):
    """`reconstruct` raises `DivergedError` (not a bad-input error) with its epoch, what went
    non-finite first and no checkpoint where it has no output folder."""
    config = load_config(short_config(tmp_path, stages=[BLOWS_UP]))
    with pytest.raises(DivergedError, match=r"non-finite in epoch 1 \(step \d+ of 10\)") as info:
        reconstruct(config)
    assert info.value.epoch == 1 and info.value.checkpoint is None
    assert info.value.component in {"loss", *config.model}
    assert not isinstance(info.value, ReconstructError)


def test_diagnose_names_the_component_whose_values_went_non_finite_first(tmp_path):
    """An infinity in an object pixel that no frame sees leaves the loss and every gradient
    finite; the epoch reports the object non-finite, and the replay names it, at step 0."""
    config = load_config(short_config(tmp_path, stages=[GOOD]))
    setup = prepare(config)
    fitter, params = setup.fitter, setup.params
    corner = lambda x: x.at[0, 0].set(jnp.inf)  # noqa: E731  (off every window: padding)
    params = {**params, "object": jax.tree.map(corner, params["object"])}
    state = fitter.init(params)
    batches = minibatches(fitter.problem, 20, 0, 0)
    _, _, report = fitter.epoch(params, state, config.rates(0), batches)
    report = jax.device_get(report)
    assert report["bad_step"] == -1 and not report["finite"]["object"]
    assert all(report["finite"][c] for c in params if c != "object")
    assert fitter.diagnose(params, state, config.rates(0), batches) == ("object", 0)


def test_non_finite_initial_guesses_are_refused_as_bad_input(tmp_path):
    config = load_config(short_config(tmp_path, stages=[GOOD]))
    with pytest.raises(ReconstructError, match=r"initial\['weights'\]: holds non-finite values"):
        reconstruct(config, initial={"weights": np.full(200, np.nan)})


@pytest.mark.parametrize(
    ("losses", "said"),
    [
        ([5, 4, 3, 3.1, 3.2, 3.3, 3.4, 3.5], "rose in each of the last 5 epochs, by 17% in all"),
        (
            [5, 1, *[3.0] * 10],
            "has stayed above twice its lowest (1) for 10 epochs without coming down",
        ),
        ([5, 1, 9, 3.5, 3.4, 3.3, 3.2, 3.1, 3, 2.9, 2.8, 2.7], None),  # coming back down
        ([5, 4, 3, 3.01, 3.02, 3.03, 3.04, 3.05], None),  # rising, by less than 5 %
        ([5, 4, 3, 3.1, 3.2, 3.0, 3.4, 3.5], None),  # not 5 in a row
        ([5, 1, *[3.0] * 9], None),  # not yet 10 epochs above twice the lowest
    ],
)
def test_rising_says_how_the_loss_drifts(losses, said):
    assert RISING == 5
    assert _rising([float(x) for x in losses]) == said


def test_a_rate_too_high_warns_once_that_the_loss_rises(tmp_path, capsys):
    """A rate of 0.3 on the shipped scan: the loss climbs; one warning line, the run goes on
    to the end (exit 0)."""
    config = short_config(tmp_path, stages=[{"epochs": 14, "learning_rate": 0.3, "batch_size": 10}])
    assert main(["reconstruct", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "warning: the loss" in x]
    assert len(lines) == 1, lines
    assert lines[0].startswith("ptyrax reconstruct: warning: the loss ")
    assert lines[0].endswith("a learning rate too high for this data? (the run goes on)")
    with pytest.warns(RisingLossWarning):
        reconstruct(load_config(config))


def test_a_batch_larger_than_the_scan_is_clamped_to_it_and_said_once(tmp_path):
    """batch_size 10**6 on 200 frames: one warning naming the stage, then full batches (one
    step an epoch, as batch_size 200)."""
    huge = {"epochs": 2, "learning_rate": 0.04, "batch_size": 10**6}
    config = load_config(short_config(tmp_path, stages=[huge]))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        clamped = reconstruct(config)
    ours = [str(w.message) for w in said if issubclass(w.category, ReconstructWarning)]
    assert ours == ["fit.stages[0].batch_size 1000000 is more than the 200 frames: batches of 200"]
    full = reconstruct(load_config(short_config(tmp_path, stages=[{**huge, "batch_size": 200}])))
    assert np.array_equal(clamped.object, full.object)
