"""Reconstructions end to end: the shipped scan, a simulated far-field file, resume, outputs."""

import dataclasses
import json
import pathlib
import re

import equinox as eqx
import h5py
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_reconstruct import (
    ReconstructError,
    Scan,
    detector_waves,
    exit_waves,
    intensities,
    load_config,
    phase_score,
    read_cxi,
    reconstruct,
    write_cxi,
)
from ptyrax_reconstruct._outputs import write_arrays

import ptyrax_core
from ptyrax_core.cli import main
from ptyrax_core.testing import rounding_tolerance

ROOT = next(p for p in pathlib.Path(__file__).resolve().parents if (p / "examples").is_dir())
EXAMPLE = ROOT / "examples" / "petra-p25-near-field.toml"
SHORT = [
    {"epochs": 3, "learning_rate": 0.04, "batch_size": 10},
    {"epochs": 2, "learning_rate": 0.005, "batch_size": 50},
]


def short_config(tmp_path, stages=SHORT, **fit) -> pathlib.Path:
    """The example config with a short schedule, as a file in `tmp_path`."""
    text = EXAMPLE.read_text().split("[[fit.stages]]")[0]
    text = text.replace('file = "data/', f'file = "{ROOT / "examples" / "data"}/')
    for key, value in fit.items():
        text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
    for stage in stages:
        text += "\n[[fit.stages]]\n" + "".join(f"{k} = {v}\n" for k, v in stage.items())
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_the_example_config_is_the_peer_schedule():
    config = load_config(EXAMPLE)
    assert [(s.epochs, s.learning_rate, s.batch_size) for s in config.stages] == [
        (100, 0.04, 10),
        (50, 0.005, 50),
    ]
    assert set(config.model) == {"object", "probe", "positions", "weights", "background"}
    assert config.data.is_file() and config.loss == "poisson"


def test_a_short_run_on_the_shipped_scan_writes_every_output(tmp_path):
    out = tmp_path / "run"
    config = short_config(tmp_path, checkpoint_every=2)
    assert main(["reconstruct", str(config), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 5 and len(metrics["epoch_seconds"]) == 5
    assert metrics["epoch_loss"][-1] < 0.8 * metrics["epoch_loss"][0]
    assert metrics["final_deviance"] < metrics["epoch_deviance"][0]
    assert metrics["devices"] == 1 and metrics["frames"] == 200
    assert metrics["positions_outside_object"] == 0
    assert metrics["versions"]["ptyrax-reconstruct"]
    with h5py.File(out / "reconstruction.h5") as f:
        assert f["object"].dtype == np.complex64 and f["object"].ndim == 2
        assert f["probe"].shape == (1, 100, 100)
        assert f["translations"].shape == (200, 3)
        moved = f["translations"][()] - f["initial_translations"][()]
        pixel = f["object_pixel_size"][()]
        assert 0 < np.abs(moved).max() < 5 * pixel.max()  # refined, by a few pixels at most
        assert f["background"].shape == (100, 100) and (f["background"][()] >= 0).all()
        assert f["weights"].shape == (200,)
    assert (out / "reconstruction.png").read_bytes().startswith(b"\x89PNG")
    saved = ptyrax_core.load(out / "checkpoint.ptyrax")
    assert saved["epoch"] == 5 and set(saved["model"]) == set(load_config(config).model)
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.ptyrax",
        "metrics.json",
        "reconstruction.h5",
        "reconstruction.png",
    ]


def test_resume_ends_bit_identical_to_an_uninterrupted_run(tmp_path):
    config = short_config(tmp_path, checkpoint_every=2)
    whole = reconstruct(config, out=tmp_path / "whole")

    class Interrupted(Exception):
        pass

    def stop_after_three(epoch, epochs, loss):
        if epoch == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        reconstruct(config, out=tmp_path / "cut", progress=stop_after_three)
    assert ptyrax_core.load(tmp_path / "cut" / "checkpoint.ptyrax")["epoch"] == 2
    resumed = reconstruct(
        config, out=tmp_path / "cut", resume=tmp_path / "cut" / "checkpoint.ptyrax"
    )
    assert resumed.epoch_loss == whole.epoch_loss
    for name in ("object", "probe", "positions", "background", "weights"):
        assert np.array_equal(getattr(resumed, name), getattr(whole, name)), name
    assert resumed.final_deviance == whole.final_deviance
    assert whole.outside == 0
    pushed = dataclasses.replace(whole, positions=whole.positions + np.array([0.0, 1e3]))
    assert pushed.outside == len(whole.positions)  # every window off the object: counted


def _star_phase(size: int) -> np.ndarray:
    """A smooth Siemens-star phase with a texture, radians, `(size, size)`."""
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:size, :size] - size / 2
    star = 0.5 * np.sign(np.sin(8 * np.arctan2(y, x))) * (np.hypot(y, x) < size / 2.5)
    texture = np.real(
        np.fft.ifft2(
            np.fft.fft2(rng.standard_normal((size, size)))
            * np.exp(-(np.hypot(*np.meshgrid(*(np.fft.fftfreq(size),) * 2)) ** 2) * 400)
        )
    )
    phase = star + 0.3 * texture / texture.std()
    blur = np.exp(
        -2 * (np.pi * 0.8) ** 2 * np.add.outer(np.fft.fftfreq(size) ** 2, np.fft.fftfreq(size) ** 2)
    )
    return np.real(np.fft.ifft2(np.fft.fft2(phase) * blur))


def test_a_simulated_far_field_cxi_file_reconstructs_its_known_object(tmp_path):
    # 64 positions of a 32 px probe (a defocused disc) over a phase object, Poisson counts,
    # written as a CXI file with the true positions; the reconstruction must find the phase,
    # up to what no far-field data can tell (a subpixel shift, an offset and a phase ramp).
    probe_size, step, grid, padding = 32, 4, 8, 4
    size = (grid - 1) * step + probe_size + 2 * padding
    obj = np.exp(1j * _star_phase(size)).astype(np.complex64)
    y, x = np.mgrid[:probe_size, :probe_size] - (probe_size - 1) / 2
    probe = (np.hypot(y, x) < 10) * np.exp(0.05j * (y**2 + x**2)) * 300.0
    corners = np.stack(np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij"), -1)
    corners = corners.reshape(-1, 2) * step + padding
    spectrum = jnp.fft.fft2(jnp.asarray(probe, jnp.complex64))[None]

    def pattern(position):
        waves = exit_waves(jnp.asarray(obj), spectrum, position)
        return intensities(detector_waves(waves, None, position))

    model = jax.vmap(pattern)(jnp.asarray(corners, jnp.float32))
    counts = np.random.default_rng(0).poisson(np.asarray(model, np.float64))
    pixel_m, wavelength, distance = 1e-8, 1e-10, 1.0
    detector = wavelength * distance / (probe_size * pixel_m)
    basis = np.array([[0.0, -detector], [-detector, 0.0], [0.0, 0.0]])
    translations = np.zeros((len(corners), 3))  # the probe at -t: t = -B p, B = basis / M
    translations[:, 1], translations[:, 0] = corners[:, 0] * pixel_m, corners[:, 1] * pixel_m
    frames = np.fft.fftshift(counts, axes=(1, 2))  # the zero frequency at the centre
    valid = np.ones((probe_size, probe_size), bool)
    scan = Scan(None, counts.shape, translations, valid, wavelength, distance, basis, frames)
    write_cxi(tmp_path / "simulated.cxi", scan)
    config = {
        "data": {"file": "simulated.cxi"},
        "geometry": {"propagation": "far_field", "padding": padding},
        "model": {"object": {"type": "phase_only"}, "probe": {"type": "direct"}},
        "loss": {"kind": "amplitude"},
        "fit": {
            "stages": [{"epochs": 300, "learning_rate": 0.05, "batch_size": len(corners)}],
            "rate_scale": {"positions": 0.0},
        },
    }
    result = reconstruct(load_config(config, base_dir=tmp_path))
    assert np.allclose(result.positions, corners, atol=1e-6)  # the file's positions, in pixels
    scanned = np.zeros((size, size), bool)  # where the probe centres went
    low, high = padding + probe_size // 2, padding + probe_size // 2 + (grid - 1) * step
    scanned[low:high, low:high] = True
    assert phase_score(result.object[:size, :size], obj, scanned).rmse <= 0.1


def test_a_multislice_object_reconstructs_the_shipped_scan(tmp_path):
    config = dataclasses.replace(
        load_config(
            short_config(tmp_path, stages=[{"epochs": 2, "learning_rate": 0.04, "batch_size": 50}])
        ),
        slices=2,
        slice_spacing=2e-6,
    )
    result = reconstruct(config, out=tmp_path / "out")
    assert result.object.shape[0] == 2 and result.epoch_loss[-1] < result.epoch_loss[0]
    with h5py.File(tmp_path / "out" / "reconstruction.h5") as f:
        assert f["object"].shape == result.object.shape
        assert f["slice_spacing"][()] == 2e-6
    montage = (tmp_path / "out" / "reconstruction_slices.png").read_bytes()
    assert montage.startswith(b"\x89PNG")


def test_per_position_probes_start_as_the_shared_probe_and_are_fitted(tmp_path):
    """An index-dependent probe type gets the probe guess at every frame: held still, it
    predicts what the shared probe does; fitted, each frame's probe moves on its own."""
    still = [{"epochs": 1, "learning_rate": 0.0, "batch_size": 50}]
    base = load_config(short_config(tmp_path, stages=still))
    per_frame = {**base.model, "probe": {"type": "index_slice"}}
    shared = reconstruct(base)
    held = reconstruct(dataclasses.replace(base, model=per_frame))
    assert shared.probes is None
    assert held.probes.shape == (200, *shared.probe.shape)
    assert np.array_equal(held.probes, np.broadcast_to(shared.probe, held.probes.shape))
    # the same predictions but for the FFT of the probe: per frame instead of once; deviance
    # sums over 10^4 pixels a frame of quantities with FFT rounding (log2(100 * 100) terms)
    relative = abs(held.final_deviance - shared.final_deviance) / shared.final_deviance
    assert relative <= rounding_tolerance(jnp.float32, terms=4 * 14)

    # each frame's probe fitted to its frame alone (the rest held still): the loss falls
    hold = {c: 0.0 for c in per_frame if c != "probe"}
    config = dataclasses.replace(
        load_config(short_config(tmp_path)), model=per_frame, rate_scale=hold
    )
    fitted = reconstruct(config, out=tmp_path / "out")
    assert fitted.epoch_loss[-1] < fitted.epoch_loss[0]
    spread = np.abs(fitted.probes - fitted.probes.mean(axis=0)).max()
    assert spread > 0 and np.array_equal(fitted.probe, fitted.probes.mean(axis=0))
    with h5py.File(tmp_path / "out" / "reconstruction.h5") as f:
        assert np.array_equal(f["probes"][()], fitted.probes)
        assert np.array_equal(f["probe"][()], fitted.probe)
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["per_position_probes"] is True


def test_a_frames_values_move_only_in_the_steps_that_see_it(tmp_path):
    """Lazy Adam for per-frame components: after frames 0-9 are seen once, steps over other
    frames leave their weights where that step put them (plain Adam's momentum would not)."""
    from ptyrax_reconstruct._run import prepare

    config = load_config(short_config(tmp_path))
    setup = prepare(config)
    fitter = setup.fitter
    assert fitter.lazy == ("positions", "weights")
    first, other = np.arange(10), np.arange(10, 20)
    runs = {}
    for name, steps in {"seen once": [first], "then others": [first, other, other, other]}.items():
        params = jax.tree.map(jnp.copy, setup.params)
        params, _, _ = fitter.epoch(
            params, fitter.init(params), config.rates(0), np.stack(steps)[:, None, :]
        )
        runs[name] = np.asarray(params["weights"].parameters)
    moved = runs["seen once"] != 1.0
    assert moved[first].all() and not moved[20:].any()
    assert np.array_equal(runs["then others"][first], runs["seen once"][first])
    assert (runs["then others"][other] != 1.0).all()


def test_the_reduced_deviance_divides_by_the_lit_pixels_of_every_frame(tmp_path):
    """The denominator is counted once, exactly, from the frames the devices hold: the valid
    pixels that hold a count, over every frame."""
    from ptyrax_reconstruct._run import prepare

    config = load_config(short_config(tmp_path))
    scan = read_cxi(config.data)
    frames = scan.frames()
    expected = int(np.sum((frames >= 1) & scan.valid, dtype=np.int64))
    assert prepare(config).fitter.lit_pixels == expected
    assert 0 < expected < frames.size


def test_per_frame_components_of_array_types_are_read_at_each_frame(tmp_path):
    """Weights and positions whose types are array parametrizations (`non_negative`,
    `direct`), not index-dependent ones: held still, they predict exactly what the
    index-dependent defaults do (each frame reads its own row); fitted, the weights stay
    non-negative and the loss falls (their rows take lazy Adam steps, as index-dependent
    types do: plain Adam would move the frames outside a minibatch on their momentum)."""
    still = [{"epochs": 1, "learning_rate": 0.0, "batch_size": 50}]
    base = load_config(short_config(tmp_path, stages=still))
    arrays = {
        **base.model,
        "weights": {"type": "non_negative"},
        "positions": {"type": "direct"},
    }
    default = reconstruct(base)
    held = reconstruct(dataclasses.replace(base, model=arrays))
    assert held.final_deviance == default.final_deviance
    assert np.array_equal(held.positions, default.positions)

    fitted = reconstruct(dataclasses.replace(load_config(short_config(tmp_path)), model=arrays))
    assert fitted.weights.shape == (200,) and (fitted.weights >= 0).all()
    assert fitted.epoch_loss[-1] < fitted.epoch_loss[0]


class _WholeStack(ptyrax_core.ArrayParametrization):
    """An object type that makes every slice at once (as a filter across slices would)."""

    registry_name = "whole_stack"
    values: jax.Array
    slices: int = eqx.field(static=True)

    def __init__(self, values: jax.Array, slices: int):
        self.values, self.slices = jnp.asarray(values), slices
        self.output_shape = self.values.shape

    def __call__(self):
        return self.values

    def with_array(self, array):
        return eqx.tree_at(lambda p: p.values, self, jnp.asarray(array, self.values.dtype))


def test_an_object_type_that_takes_slices_makes_the_stack_whole(tmp_path, monkeypatch):
    """Given `slices`, it gets the guess of every slice, `(slices, rows, columns)`, and is not
    stacked: holding the same array as the stacked direct object, it fits to the bit the same."""
    get = ptyrax_core.registry.get
    monkeypatch.setattr(
        ptyrax_core.registry,
        "get",
        lambda n, kind="parametrizations": _WholeStack if n == "whole_stack" else get(n, kind),
    )
    stages = [{"epochs": 2, "learning_rate": 0.04, "batch_size": 50}]
    stacked = dataclasses.replace(
        load_config(short_config(tmp_path, stages=stages)), slices=2, slice_spacing=2e-6
    )
    whole = dataclasses.replace(stacked, model={**stacked.model, "object": {"type": "whole_stack"}})
    result = reconstruct(whole)
    assert isinstance(result.model["object"], _WholeStack) and result.model["object"].slices == 2
    assert result.object.shape[0] == 2
    assert result.final_deviance == reconstruct(stacked).final_deviance


class _Optics(ptyrax_core.DirectArrayParametrization):
    """A probe type with named numbers (as an aberration probe has its C10, C12, ...)."""

    registry_name = "optics"

    def coefficients(self):
        return {"C10": 12.5, "phi12": 0.25}


def test_a_component_s_coefficients_are_written_with_the_arrays(tmp_path, monkeypatch):
    get = ptyrax_core.registry.get
    monkeypatch.setattr(
        ptyrax_core.registry,
        "get",
        lambda n, kind="parametrizations": _Optics if n == "optics" else get(n, kind),
    )
    config = load_config(short_config(tmp_path, stages=[{"epochs": 1, "batch_size": 50}]))
    config = dataclasses.replace(config, model={**config.model, "probe": {"type": "optics"}})
    write_arrays(tmp_path / "reconstruction.h5", reconstruct(config))  # no checkpoint: the
    with h5py.File(tmp_path / "reconstruction.h5") as f:  # test's type is not a plugin's
        assert f["coefficients/probe"].attrs["type"] == "_Optics"
        assert (f["coefficients/probe/C10"][()], f["coefficients/probe/phi12"][()]) == (12.5, 0.25)
        assert "slice_spacing" not in f and f.attrs["length_unit_of_the_config"] == "m"


def test_several_modes_computed_in_passes_give_the_sums_and_gradients_of_one_pass(
    tmp_path, monkeypatch
):
    """With several probe modes a minibatch's frames go through the forward model a few at a
    time (`WAVES_PER_PASS`); the loss, deviance and every gradient are those of one pass."""
    from ptyrax_reconstruct import _fit
    from ptyrax_reconstruct._run import prepare

    config = load_config(short_config(tmp_path, probe_modes=4))
    assert config.probe_modes == 4
    batches = np.arange(40).reshape(1, 1, 40)
    results = {}
    for passes in (1, 5):  # 40 frames of 4 modes: one pass, or 5 passes of 8 frames
        monkeypatch.setattr(_fit, "WAVES_PER_PASS", 160 // passes)
        fitter = prepare(config).fitter
        params = prepare(config).params
        assert _fit.frames_per_pass(jnp.zeros((4, 2, 2)), 40) == 40 // passes
        batch = jax.device_put(
            batches[0], jax.sharding.NamedSharding(fitter.problem.mesh, _fit.P(_fit.AXIS))
        )
        grads, sums = jax.jit(lambda p, b, f=fitter: f._sharded_sums(p, b, f.problem, grad=True))(
            params, batch
        )
        results[passes] = (np.asarray(sums), jax.tree.leaves(grads))
    (one, grads_one), (five, grads_five) = results[1], results[5]
    # the same per-frame arithmetic; only the order of the sums over frames and pixels differs
    terms = 40 * 64 * 64
    for a, b in zip(one, five, strict=True):
        assert abs(a - b) <= rounding_tolerance(jnp.float32, terms=terms, scale=abs(a))
    for a, b in zip(grads_one, grads_five, strict=True):
        a, b = np.asarray(a), np.asarray(b)
        scale = float(np.max(np.abs(a))) if a.size else 0.0
        assert np.allclose(a, b, rtol=0, atol=rounding_tolerance(a.dtype, terms=40, scale=scale))


def test_a_refined_slice_spacing_moves_and_is_written(tmp_path):
    """`[model.slice_spacing]`: the spacing as a trained multiple of the configured one. Held
    at its start (rate 0) the run predicts what the fixed spacing does; trained, it moves, and
    the h5 and the picture carry the refined spacing."""
    stages = [{"epochs": 2, "learning_rate": 0.04, "batch_size": 50}]
    base = dataclasses.replace(
        load_config(short_config(tmp_path, stages=stages)), slices=2, slice_spacing=2e-6
    )
    fixed = reconstruct(base, out=tmp_path / "fixed")
    spec = {"type": "non_negative"}
    held = dataclasses.replace(
        base,
        model={**base.model, "slice_spacing": spec},
        rate_scale={**base.rate_scale, "slice_spacing": 0.0},
    )
    same = reconstruct(held, out=tmp_path / "held")
    # the transfer made from its phase (expi) against numpy's exp: float32 rounding a step
    assert abs(same.final_deviance - fixed.final_deviance) <= 1e-3 * fixed.final_deviance
    trained = dataclasses.replace(held, rate_scale={**base.rate_scale, "slice_spacing": 1.0})
    moved = reconstruct(trained, out=tmp_path / "trained")
    factor = float(np.asarray(moved.model["slice_spacing"]()).reshape(()))
    assert factor != 1.0 and factor > 0
    with h5py.File(tmp_path / "trained" / "reconstruction.h5") as f:
        assert f["slice_spacing"][()] == pytest.approx(2e-6 * factor, rel=1e-6)


def test_a_slice_spacing_component_needs_slices(tmp_path):
    text = short_config(tmp_path).read_text() + '\n[model.slice_spacing]\ntype = "non_negative"\n'
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(ReconstructError, match="model.slice_spacing refines the spacing"):
        load_config(tmp_path / "bad.toml")
