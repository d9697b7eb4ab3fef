"""The memory a run needs, worked out before anything is allocated, against XLA's own figure;
runs that cannot fit refused with the figures; sizes that cannot be refused by name."""

import dataclasses

import jax
import numpy as np
import pytest
from ptyrax_reconstruct import load_config, read_cxi
from ptyrax_reconstruct._errors import ReconstructError
from ptyrax_reconstruct._fit import minibatches
from ptyrax_reconstruct._guess import check_positions
from ptyrax_reconstruct._memory import GIB, check, host_available, need
from ptyrax_reconstruct._run import prepare
from test_run import EXAMPLE, short_config

from ptyrax_core.cli import main

CASES = {
    "batch 10": dict(batch=10),
    "batch 200": dict(batch=200),
    "3 modes": dict(batch=50, probe_modes=3),
    "4 slices": dict(batch=50, slices=4),
    "2 modes, 3 slices": dict(batch=50, probe_modes=2, slices=3),
    "a probe per frame": dict(batch=50, model={"probe": {"type": "index_slice"}}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_estimate_bounds_xla_s_buffers_of_the_compiled_epoch_within_3x(case):
    """`memory_need` is at least what XLA assigns to the compiled epoch (arguments, outputs
    and temporaries: the run cannot need more than it says) and at most three times it (it
    refuses no run that would fit by far)."""
    options = dict(CASES[case])
    batch = options.pop("batch")
    base = load_config(EXAMPLE)
    config = dataclasses.replace(
        base,
        stages=(dataclasses.replace(base.stages[0], batch_size=batch),),
        slice_spacing=1e-6,
        model={**base.model, **options.pop("model", {})},
        **options,
    )
    setup = prepare(config)
    fitter = setup.fitter
    state = fitter.init(setup.params)
    batches = jax.device_put(minibatches(fitter.problem, batch, 0, 0))
    rates = {k: np.float32(v) for k, v in config.rates(0).items()}
    compiled = fitter._epoch.lower(setup.params, state, rates, batches).compile()
    xla = compiled.memory_analysis()
    assigned = (
        xla.argument_size_in_bytes
        + xla.output_size_in_bytes
        + xla.temp_size_in_bytes
        - xla.alias_size_in_bytes
    )
    estimate = setup.need  # worked out by prepare before it allocated anything
    assert assigned <= estimate.device <= 3 * assigned, (assigned, estimate)


def test_need_grows_with_what_a_run_holds():
    """Each size enters the figure: frames, object, slices, modes, batch, per-frame arrays."""
    base = dict(
        frames=200,
        frame_shape=(100, 100),
        devices=1,
        local_devices=1,
        object_shape=(150, 160),
        slices=1,
        modes=1,
        batch_size=10,
        per_frame={"positions": (200, 2)},
        shared={},
    )
    one = need(**base)
    for change in (
        {"frames": 400},
        {"object_shape": (300, 160)},
        {"slices": 2},
        {"modes": 2},
        {"batch_size": 20},
        {"per_frame": {"positions": (200, 2), "probe": (200, 1, 100, 100)}},
    ):
        assert need(**{**base, **change}).device > one.device, change
    halves = need(**{**base, "devices": 2, "batch_size": 20})
    assert halves.frames < one.frames and halves.step == one.step  # frames and batch split
    huge = need(**{**base, "slices": 2**62, "modes": 2**62})  # Python integers: no overflow
    assert huge.device > 2**120


def test_a_run_beyond_the_budget_is_refused_with_the_figures(tmp_path, capsys):
    """`--device-memory` below the run's need: exit 2, one line with what it needs, where,
    and the budget; nothing written."""
    config = short_config(tmp_path)
    out = tmp_path / "out"
    assert (
        main(["reconstruct", str(config), "--out", str(out), "--quiet", "--device-memory", "0.01"])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("ptyrax reconstruct: error: the run needs ") and err.count("\n") == 1
    assert " on cpu:0 (frames " in err and "which has 0.01 GiB as --device-memory says" in err
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_device_memory_must_be_a_positive_number(tmp_path, capsys, value):
    config = short_config(tmp_path)
    args = ["reconstruct", str(config), "--out", str(tmp_path / "o"), "--device-memory", value]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("ptyrax reconstruct: error: --device-memory must be a positive number")


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        ("padding = 10", "padding = 10\nslices = 100000\nslice_spacing = 1e-6", "the run needs "),
        ("probe_modes = 1", "probe_modes = 100000", "the run needs "),
        ("padding = 10", "padding = 100000000", "pixels, more than the 2147483647"),
    ],
)
def test_absurd_sizes_are_refused_before_allocation(tmp_path, capsys, before, after, message):
    """A hundred thousand slices or modes, or padding that makes the object too large to
    index: refused in seconds by the sizes alone (nothing that big is made)."""
    config = short_config(tmp_path)
    source = config.read_text()
    assert before in source
    config.write_text(source.replace(before, after, 1))
    assert main(["reconstruct", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ptyrax reconstruct: error: ") and message in err, err
    assert err.count("\n") == 1


def test_a_cpu_run_is_checked_against_the_host_s_memory():
    """On a CPU the devices share the host: their needs add up against what it has."""
    cpu = jax.devices("cpu")[0]
    have = host_available()
    assert 0 < have < 2**50
    fits = need(
        frames=10,
        frame_shape=(8, 8),
        devices=1,
        local_devices=1,
        object_shape=(16, 16),
        slices=1,
        modes=1,
        batch_size=10,
        per_frame={},
        shared={},
    )
    check(fits, [cpu], cpu.process_index)
    too_much = dataclasses.replace(fits, model=2 * have)  # twice: other processes come and go
    with pytest.raises(ReconstructError, match=r"needs .* of host memory \(1 cpu device"):
        check(too_much, [cpu], cpu.process_index)
    with pytest.raises(ReconstructError, match="on cpu:0 .* 1 GiB as --device-memory says"):
        check(dataclasses.replace(fits, model=GIB), [cpu], cpu.process_index, budget_gib=1.0)


def test_positions_that_do_not_overlap_are_refused_and_a_grid_that_does_is_not():
    """Neighbours further apart than a frame: the translations' unit is wrong."""
    grid = np.stack(np.meshgrid(np.arange(10), np.arange(10)), -1).reshape(-1, 2) * 30.0
    check_positions(grid, (64, 64), "scan")  # a step of 30 px under 64 px frames
    check_positions(np.zeros((5, 2)), (64, 64), "scan")  # all at one place: overlap
    with pytest.raises(ReconstructError, match=r"scan: neighbouring frames are 30 object pixels"):
        check_positions(grid, (16, 16), "scan")


def test_the_shipped_scan_s_need_is_recorded(tmp_path):
    """metrics.json says what a device was worked out to need."""
    import json

    config = short_config(tmp_path, stages=[{"epochs": 1, "learning_rate": 0.04, "batch_size": 10}])
    assert main(["reconstruct", str(config), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    scan = read_cxi(load_config(config).data)
    frames_mb = np.prod(scan.frames_shape) * 4 / 2**20
    assert frames_mb < metrics["memory_need_mb"] < 50 * frames_mb
