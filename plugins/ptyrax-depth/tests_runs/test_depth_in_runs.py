"""`depth_filtered` as the object of `ptyrax reconstruct` on the shipped measured scan, three
slices (the tox env depth-runs, which installs ptyrax-reconstruct beside this plugin)."""

import dataclasses
import pathlib

import numpy as np
import ptyrax_reconstruct as reconstruct_module
import pytest

ROOT = next(p for p in pathlib.Path(__file__).resolve().parents if (p / "examples").is_dir())
EXAMPLE = ROOT / "examples" / "petra-p25-near-field.toml"
STAGES = [{"epochs": 2, "learning_rate": 0.04, "batch_size": 50}]


def run(tmp_path, **object_spec):
    text = EXAMPLE.read_text().split("[[fit.stages]]")[0]
    text = text.replace('file = "data/', f'file = "{ROOT / "examples" / "data"}/')
    for stage in STAGES:
        text += "\n[[fit.stages]]\n" + "".join(f"{k} = {v}\n" for k, v in stage.items())
    path = tmp_path / "config.toml"
    path.write_text(text)
    config = reconstruct_module.load_config(path)
    config = dataclasses.replace(
        config,
        slices=3,
        slice_spacing=2e-6,
        model={**config.model, "object": {"type": "depth_filtered", **object_spec}},
    )
    return reconstruct_module.reconstruct(config)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return {s: run(tmp_path_factory.mktemp(f"strength{s}"), strength=s) for s in (0.0, 20.0)}


def test_a_three_slice_run_with_the_depth_filtered_object_fits(runs):
    from ptyrax_depth import DepthFilteredArrayParametrization

    for result in runs.values():
        obj = result.model["object"]
        assert isinstance(obj, DepthFilteredArrayParametrization)
        assert obj.slices == 3 and obj.slice_spacing == 2e-6  # the engine's, in metres
        assert obj.pixel_size[0] == pytest.approx(178.7e-9, rel=1e-3)
        assert result.object.shape[0] == 3 and np.isfinite(result.object).all()
        assert result.epoch_loss[-1] < result.epoch_loss[0]
        assert np.isfinite(result.final_deviance)


def test_the_run_s_object_is_filtered_its_slices_share_their_mean_phase(runs):
    """By construction (W = 0 on kr = 0 off kz = 0): the filtered run's slices have one mean
    phase (float32 rounding of the FFTs), the unfiltered run's do not. (The depth variation
    itself is not compared: Adam acts on the free arrays, which it moved apart more along
    the depth than the unfiltered slices in this short run.)"""
    means = {s: np.angle(r.object.astype(np.complex128)).mean(axis=(1, 2)) for s, r in runs.items()}
    assert np.ptp(means[20.0]) < 1e-6
    assert np.ptp(means[0.0]) > 2e-6  # 4e-6 in this run
    obj = runs[20.0].model["object"]
    phase, _ = obj.filtered()
    assert np.allclose(np.angle(runs[20.0].object), np.asarray(phase), atol=1e-5)
