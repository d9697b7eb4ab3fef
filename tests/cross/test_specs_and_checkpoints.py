"""build, save and load with every first-party parametrization (tox env `all`)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from trees import assert_same_tree, members, rewrite, to_toml  # tests/trees.py

from ptyrax_core import (
    ArrayParametrization,
    CheckpointError,
    SpecError,
    UnknownParametrizationError,
    build,
    load,
    parametrizations as P,
    registry,
    resolve_parametrizations,
    save,
)
from ptyrax_core._firstparty import REGISTRY_NAMES


def normal(seed, shape, dtype=jnp.float32):
    return jax.random.normal(jax.random.PRNGKey(seed), shape, dtype)


# One spec (or more) per registry name; each next to the same object built in Python.
SPECS = {
    "direct": (
        {"type": "direct", "data_or_initializer": {"type": "phase_only", "output_shape": [3, 4]}},
        lambda: P.DirectArrayParametrization(P.PhaseOnlyArrayParametrization((3, 4))),
    ),
    "index_slice": (
        {
            "type": "index_slice",
            "parameters": {
                "shift": [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]],
                "frames": {
                    "type": "wavelet",
                    "data_or_initializer": {"init": "normal", "shape": [3, 8, 8], "seed": 1},
                    "wavelet": "sym2",
                },
            },
        },
        lambda: P.IndexSliceParameter(
            {
                "shift": jnp.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]),
                "frames": P.WaveletArrayParametrization(normal(1, (3, 8, 8)), "sym2"),
            }
        ),
    ),
    "phase_only": (
        {
            "type": "phase_only",
            "output_shape": [8, 8],
            "phase_initializer": {"init": "uniform", "seed": 2, "low": -3.0, "high": 3.0},
        },
        lambda: P.PhaseOnlyArrayParametrization(
            (8, 8), lambda s: jax.random.uniform(jax.random.PRNGKey(2), s, minval=-3, maxval=3)
        ),
    ),
    "normalized": (
        {
            "type": "normalized",
            "initial_data": {"init": "normal", "shape": [2, 8, 8, 1], "seed": 3, "dtype": "c8"},
            "scaling_function": "mean_l2_norm",
        },
        lambda: P.NormalizedArrayParametrization(
            normal(3, (2, 8, 8, 1), jnp.complex64), scaling_function=P.mean_l2_norm
        ),
    ),
    "normalized_referenced": (
        {"type": "normalized_referenced", "initial_data": [[1.0, 2], [3, 4]], "scale": [2, 4]},
        lambda: P.NormalizedReferencedArrayParametrization(
            jnp.array([[1.0, 2.0], [3.0, 4.0]]), scale=jnp.array([2, 4])
        ),
    ),
    "outer_product": (
        {
            "type": "outer_product",
            "output_shape": [6, 5, 2],
            "n_outer": 2,
            "initializer": {"init": "normal", "seed": 4, "scale": 0.5},
        },
        lambda: P.OuterProductArrayParametrization((6, 5, 2), 2, lambda s: normal(4, s) * 0.5),
    ),
    "wavelet": (
        {
            "type": "wavelet",
            "data_or_initializer": {"init": "normal", "shape": [2, 16, 14], "seed": 5},
            "wavelet": "db2",
            "level": 2,
        },
        lambda: P.WaveletArrayParametrization(normal(5, (2, 16, 14)), "db2", 2),
    ),
    "binary": (
        {
            "type": "binary",
            "data_or_initializer": [[0.1, 0.9], [0.6, 0.2]],
            "threshold": 0.5,
            "straight_through": True,
        },
        lambda: P.BinaryArrayParametrization(jnp.array([[0.1, 0.9], [0.6, 0.2]]), 0.5, True),
    ),
    "probe_support": (
        {
            "type": "probe_support",
            "data_or_initializer": {"init": "ones", "shape": [6, 8], "dtype": "complex64"},
            "support": 2.5,
            "center": [2.0, 3.5],
        },
        lambda: P.ProbeSupportArrayParametrization(
            jnp.ones((6, 8), jnp.complex64), 2.5, (2.0, 3.5)
        ),
    ),
    "probe_support_mask": (
        {
            "type": "probe_support",
            "data_or_initializer": {"init": "full", "shape": [2, 3], "value": 2.0},
            "support": [True, False, True],
        },
        lambda: P.ProbeSupportArrayParametrization(
            jnp.full((2, 3), 2.0), jnp.array([True, False, True])
        ),
    ),
    "band_limited": (
        {
            "type": "band_limited",
            "data_or_initializer": {"init": "normal", "shape": [6, 8], "seed": 3},
            "band": 2.0,
            "center": [3.0, 4.5],
        },
        lambda: P.BandLimitedArrayParametrization(normal(3, (6, 8)), 2.0, (3.0, 4.5)),
    ),
    "bounded_amplitude_phase": (
        {
            "type": "bounded_amplitude_phase",
            "initial_data": {"init": "normal", "shape": [4, 4], "seed": 6, "dtype": "complex64"},
            "a_min": 0.1,
            "a_max": 2,
        },
        lambda: P.BoundedAmplitudePhaseArrayParametrization(
            normal(6, (4, 4), jnp.complex64), 0.1, 2
        ),
    ),
    "non_negative": (
        {"type": "non_negative", "initial_data": [[0.5, 2.0, 0.1], [1.0, 4.0, 9.0]]},
        lambda: P.NonNegativeArrayParametrization(jnp.array([[0.5, 2.0, 0.1], [1.0, 4.0, 9.0]])),
    ),
    "orthogonal_modes": (
        {
            "type": "orthogonal_modes",
            "initial_modes": {
                "init": "normal",
                "shape": [2, 3, 4],
                "seed": 7,
                "dtype": "complex64",
            },
        },
        lambda: P.OrthogonalModesArrayParametrization(normal(7, (2, 3, 4), jnp.complex64)),
    ),
    "affine_positions": (
        {"type": "affine_positions", "nominal": [[0.0, 0.0], [0, 2.5], [3, 0.5]], "offsets": True},
        lambda: P.AffinePositionsParameter(jnp.array([[0.0, 0.0], [0, 2.5], [3, 0.5]]), True),
    ),
    "probe_relaxation": (
        {
            "type": "probe_relaxation",
            "probes": {"init": "normal", "shape": [5, 2, 3, 4], "seed": 8, "dtype": "complex64"},
            "rank": 2,
        },
        lambda: P.ProbeRelaxationParameter(normal(8, (5, 2, 3, 4), jnp.complex64), rank=2),
    ),
    "aberration_probe": (
        {
            "type": "aberration_probe",
            "output_shape": [2, 16, 16],
            "wavelength": 2.508e-12,
            "pixel_size": [0.3e-10, 0.25e-10],
            "convergence_angle": 20.0,
            "aberrations": {"C10": 50.0, "C12": 10.0, "phi12": 0.2},
            "trainable": ["C10", "C12"],
            "focal_spread": 25.0,
        },
        lambda: P.AberrationProbeArrayParametrization(
            (2, 16, 16),
            2.508e-12,
            (0.3e-10, 0.25e-10),
            20.0,
            {"C10": 50.0, "C12": 10.0, "phi12": 0.2},
            trainable=("C10", "C12"),
            focal_spread=25.0,
        ),
    ),
    "depth_filtered": (
        {
            "type": "depth_filtered",
            "output_shape": [3, 6, 5],
            "slice_spacing": 2e-10,
            "pixel_size": 0.5e-10,
            "strength": 2.0,
        },
        lambda: P.DepthFilteredArrayParametrization((3, 6, 5), 2e-10, 0.5e-10, strength=2.0),
    ),
}

# A wrong shape for each registry name, and the argument the error must name.
WRONG_SHAPES = {
    "direct": ({"data_or_initializer": {"init": "zeros", "shape": [2, -1]}}, '["shape"]'),
    "index_slice": ({"parameters": {"a": [[1.0, 2.0]], "b": [[1.0], [2.0]]}}, "parameters"),
    "phase_only": ({"output_shape": [-1, 2]}, "output_shape"),
    "normalized": ({"initial_data": [[1.0, 2.0]], "scale": [1.0, 2.0]}, "scale"),
    "normalized_referenced": ({"initial_data": [1.0, 2.0], "scale": [[1.0]]}, "scale"),
    "outer_product": ({"output_shape": [4, 4], "n_outer": 1}, "output_shape"),
    "wavelet": ({"data_or_initializer": [1.0, 2.0]}, "data_or_initializer"),
    "binary": ({"data_or_initializer": [1.0], "threshold": [0.5, 0.6]}, "threshold"),
    "probe_support": ({"data_or_initializer": [[1.0, 2.0]], "support": [1, 0, 1]}, "support"),
    "band_limited": ({"data_or_initializer": [[1.0, 2.0]], "band": [1, 0, 1]}, "band"),
    "bounded_amplitude_phase": ({"initial_data": [1.0], "a_min": [0.0, 0.1]}, "a_min"),
    "non_negative": ({"initial_data": [[1.0, -2.0]]}, "initial_data"),
    "orthogonal_modes": ({"initial_modes": [1.0, 2.0]}, "initial_modes"),
    "affine_positions": ({"nominal": [[1.0, 2.0, 3.0]]}, "nominal"),
    "probe_relaxation": ({"probes": [[1.0, 2.0]]}, "probes"),
    "aberration_probe": ({"output_shape": [16]}, "output_shape"),
    "depth_filtered": ({"output_shape": [6, 5]}, "output_shape"),
}

FIRST_PARTY = {"direct", "index_slice", *(n for names in REGISTRY_NAMES.values() for n in names)}


def test_every_first_party_name_is_covered():
    assert {spec["type"] for spec, _ in SPECS.values()} >= FIRST_PARTY
    assert set(WRONG_SHAPES) >= FIRST_PARTY


@pytest.mark.parametrize("case", SPECS)
def test_build_matches_python(case):
    spec, python = SPECS[case]
    built = build(spec)
    assert type(built) is registry.get(spec["type"])
    assert_same_tree(built, python())


@pytest.mark.parametrize("case", SPECS)
def test_build_from_toml_and_json_files(case, tmp_path):
    spec, python = SPECS[case]
    model = {"model": spec, "plain": [1.0, 2.0]}
    (tmp_path / "model.json").write_text(json.dumps(model))
    (tmp_path / "model.toml").write_text(to_toml(model))
    expected = {"model": python(), "plain": jnp.array([1.0, 2.0])}
    assert_same_tree(build(tmp_path / "model.json"), expected)
    assert_same_tree(build(tmp_path / "model.toml"), expected)


def test_npy_arrays_beside_a_spec_file(tmp_path):
    probe = np.asarray(normal(0, (2, 6, 8), jnp.complex64))
    np.save(tmp_path / "probe.npy", probe)
    (tmp_path / "model.toml").write_text(
        '[probe]\ntype = "probe_support"\nsupport = 2.0\n'
        'data_or_initializer = {npy = "probe.npy"}\n'
    )
    built = build(tmp_path / "model.toml")["probe"]
    assert_same_tree(built, P.ProbeSupportArrayParametrization(jnp.asarray(probe), 2.0))


@pytest.mark.parametrize("name", sorted(WRONG_SHAPES))
def test_bad_specs_name_the_key_and_the_type(name):
    cls = registry.get(name)
    spec = next(s for s, _ in SPECS.values() if s["type"] == name)
    with pytest.raises(TypeError) as info:
        build({"model": {**spec, "colour": "red"}})
    assert str(info.value).startswith(f'spec["model"]: {name} ({cls.__name__}) has no argument')
    required = [k for k in spec if k != "type" and k in _required(cls)]
    for key in required:
        incomplete = {k: v for k, v in spec.items() if k != key}
        with pytest.raises(TypeError, match=rf"spec\[\"model\"\]: {name} .* needs .*'{key}'"):
            build({"model": incomplete})
    wrong, argument = WRONG_SHAPES[name]
    with pytest.raises(SpecError) as info:
        build({"model": {**spec, **wrong}})
    assert isinstance(info.value, TypeError | ValueError)
    message = str(info.value)
    assert message.startswith('spec["model"]') and argument in message, message


def _required(cls):
    import inspect

    return {n for n, p in inspect.signature(cls).parameters.items() if p.default is p.empty}


def _outputs(tree):
    """Every parametrization's array (every index-dependent one's values): what a model uses."""
    leaves = jax.tree_util.tree_leaves(
        tree, is_leaf=lambda x: isinstance(x, ArrayParametrization | P.IndexDependentParameter)
    )
    leaves = [x for x in leaves if not isinstance(x, jax.Array)]
    return [x() if isinstance(x, ArrayParametrization) else x.all for x in leaves]


def test_every_example_round_trips_bit_exact(ptyrax_example, tmp_path):
    tree = {"example": ptyrax_example, "nested": [(ptyrax_example, jnp.arange(3))]}
    save(tmp_path / "model.ptyrax", tree)
    back = load(tmp_path / "model.ptyrax")
    assert_same_tree(back, tree)
    assert type(back["example"]) is type(ptyrax_example)
    assert_same_tree(_outputs(back), _outputs(tree))


def test_every_example_refuses_damage(ptyrax_example, tmp_path):
    path = tmp_path / "model.ptyrax"
    save(path, ptyrax_example)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(CheckpointError, match="truncated or damaged"):
        load(path)
    path.write_bytes(data)

    def flip(doc, files):  # one bit of the last byte of the first array
        member = doc["arrays"][0]["member"]
        files[member] = files[member][:-1] + bytes([files[member][-1] ^ 1])

    rewrite(path, flip)
    with pytest.raises(CheckpointError, match="was altered or damaged: the SHA-256 of arrays/0"):
        load(path)
    path.write_bytes(data)
    rewrite(path, lambda doc, files: doc["tree"]["fields"].popitem(), rehash=False)
    with pytest.raises(CheckpointError, match="SHA-256 of its ptyrax.json does not match"):
        load(path)


@pytest.mark.parametrize("case", SPECS)
def test_models_built_from_specs_round_trip(case, tmp_path):
    built = build(SPECS[case][0])
    save(tmp_path / "model.ptyrax", built)
    assert_same_tree(load(tmp_path / "model.ptyrax"), built)


def test_a_whole_model_from_a_file_trains_the_same_after_a_checkpoint(tmp_path):
    model = {case: spec for case, (spec, _) in SPECS.items()}
    (tmp_path / "model.toml").write_text(to_toml(model))
    built = build(tmp_path / "model.toml")
    save(tmp_path / "model.ptyrax", built)
    back = load(tmp_path / "model.ptyrax")

    def loss(m):
        m = resolve_parametrizations(m, 1)
        total = jnp.sum(jnp.abs(m["index_slice"].at_current_index()["frames"]))
        for case in SPECS:
            if case in ("affine_positions", "probe_relaxation"):  # index-dependent: at index 1
                total = total + jnp.sum(jnp.abs(m[case].at_current_index()))
            elif case != "index_slice":
                total = total + jnp.sum(jnp.abs(m[case]))
        return total

    step = jax.jit(jax.value_and_grad(loss))
    assert_same_tree(step(back), step(built))


def test_a_missing_plugin_names_its_distribution(tmp_path, plugin_env):
    built = {case: build(spec) for case, (spec, _) in SPECS.items()}
    plugins = {p.distribution: p for p in registry.plugins() if p.name != "builtins"}
    for dist in REGISTRY_NAMES:
        save(tmp_path / "model.ptyrax", built)
        others = ",".join(p.name for d, p in plugins.items() if d != dist)
        plugin_env(PTYRAX_PLUGINS=others, PTYRAX_STRICT_PLUGINS="1")
        with pytest.raises(UnknownParametrizationError) as info:
            load(tmp_path / "model.ptyrax")
        message = str(info.value)
        assert f"saved with {dist} {plugins[dist].version}" in message, message
        assert f"pip install {dist}." in message
        assert set(members(tmp_path / "model.ptyrax"))  # the file itself is untouched
        plugin_env(PTYRAX_PLUGINS=",".join(p.name for p in plugins.values()))


def test_functions_by_name():
    phase = build({"type": "phase_only", "output_shape": [2, 2], "phase_initializer": "ones"})
    assert_same_tree(phase, P.PhaseOnlyArrayParametrization((2, 2), jnp.ones))
    spec = {"type": "normalized", "initial_data": [[1.0]], "scaling_function": "mean_l2_nrm"}
    with pytest.raises(ValueError) as info:
        build(spec)
    assert str(info.value).startswith(
        "spec[\"scaling_function\"]: 'mean_l2_nrm' is neither an initializer (zeros, ones, "
        "full, normal, uniform) nor a function that a loaded plugin exports ("
    )
    assert "mean_l2_norm" in str(info.value)
    with pytest.raises(TypeError, match=r"leave out \"shape\""):
        build({**spec, "scaling_function": {"init": "ones", "shape": [1]}})
