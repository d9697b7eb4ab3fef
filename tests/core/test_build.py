"""ptyrax_core.build with core's built-ins: specs, spec files, initializers and bad input."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from trees import assert_same_tree  # tests/trees.py

from ptyrax_core import (
    DirectArrayParametrization,
    IndexSliceParameter,
    SpecError,
    UnknownParametrizationError,
    build,
)

pytestmark = pytest.mark.usefixtures("core_only")


SPEC = {
    "object": {"type": "direct", "data_or_initializer": [[1.0, 2.0], [3.0, 4.0]]},
    "probe": {
        "type": "direct",
        "data_or_initializer": {"init": "normal", "shape": [4, 4], "seed": 0, "dtype": "complex64"},
    },
    "positions": {"type": "index_slice", "parameters": [[0.0, 0.0], [0.0, 2.0], [2.0, 0.0]]},
    "frames": [
        {"type": "direct", "data_or_initializer": {"init": "zeros", "shape": [2]}},
        {"type": "direct", "data_or_initializer": {"init": "full", "shape": [2], "value": 7}},
    ],
}


def expected():
    normal = jax.random.normal(jax.random.PRNGKey(0), (4, 4), jnp.complex64)
    return {
        "object": DirectArrayParametrization(jnp.array([[1.0, 2.0], [3.0, 4.0]])),
        "probe": DirectArrayParametrization(normal),
        "positions": IndexSliceParameter(jnp.array([[0.0, 0.0], [0.0, 2.0], [2.0, 0.0]])),
        "frames": [
            DirectArrayParametrization(jnp.zeros(2)),
            DirectArrayParametrization(jnp.full(2, 7.0)),
        ],
    }


def test_a_tree_of_parametrizations():
    assert_same_tree(build(SPEC), expected())


def test_nested_specs_and_pytrees():
    model = build(
        {
            "type": "index_slice",
            "dim": 1,
            "parameters": {
                "shift": [[0.0, 1.0, 2.0]],
                "defocus": {"type": "direct", "data_or_initializer": [[5.0, 6.0, 7.0]]},
            },
        }
    )
    assert model.n == 3 and model.dim == 1
    assert isinstance(model.parameters["defocus"], DirectArrayParametrization)
    assert jnp.array_equal(model.at_index(2)["defocus"], jnp.array([7.0]))
    wrapped = build({"type": "direct", "data_or_initializer": SPEC["object"]})
    assert isinstance(wrapped._data, DirectArrayParametrization)


def test_arrays_lists_and_literals():
    tree = build(
        {
            "ints": [[1, 2], [3, 4]],
            "mask": [True, False],
            "explicit": {"array": [1, 2], "dtype": "int8"},
            "complex": {"array": [1.0, 2.0], "dtype": "complex64"},
            "strings": ["a", "b"],
            "mixed": [1.0, "a"],
            "number": 3.5,
            "empty": [],
        }
    )
    assert tree["ints"].dtype == jnp.int32 and isinstance(tree["ints"], jax.Array)
    assert tree["mask"].dtype == jnp.bool_
    assert tree["explicit"].dtype == jnp.int8
    assert tree["complex"].dtype == jnp.complex64
    assert tree["strings"] == ["a", "b"] and tree["mixed"] == [1.0, "a"]
    assert tree["number"] == 3.5 and tree["empty"] == []
    assert build([[1.0, 2.0]]).shape == (1, 2)


@pytest.mark.parametrize(
    ("init", "check"),
    [
        ({"init": "zeros"}, lambda a: a.dtype == jnp.float32 and not a.any()),
        ({"init": "ones", "dtype": "bfloat16"}, lambda a: a.dtype == jnp.bfloat16 and a.all()),
        ({"init": "full", "value": 2.5, "dtype": "float16"}, lambda a: (a == 2.5).all()),
        (
            {"init": "normal", "seed": 3, "mean": 1.0, "scale": 0.5},
            lambda a: jnp.array_equal(a, 1 + 0.5 * jax.random.normal(jax.random.PRNGKey(3), (3,))),
        ),
        (
            {"init": "uniform", "seed": 1, "low": -2.0, "high": -1.0},
            lambda a: bool(((a >= -2.0) & (a < -1.0)).all()),
        ),
        ({"init": "normal", "seed": 0, "dtype": "complex64"}, lambda a: jnp.iscomplexobj(a)),
    ],
)
def test_initializers(init, check):
    array = build({**init, "shape": [3]})
    assert array.shape == (3,) and check(array)
    again = build({"type": "direct", "data_or_initializer": {**init, "shape": [3]}})()
    assert np.asarray(again).tobytes() == np.asarray(array).tobytes()  # reproducible


def test_npy_files_are_relative_to_the_spec_file(tmp_path, monkeypatch):
    data = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    (tmp_path / "arrays").mkdir()
    np.save(tmp_path / "arrays" / "probe.npy", data)
    spec = {"type": "direct", "data_or_initializer": {"npy": "arrays/probe.npy"}}
    (tmp_path / "model.json").write_text(json.dumps(spec))
    assert jnp.array_equal(build(tmp_path / "model.json")(), data)
    assert jnp.array_equal(build(spec, base_dir=tmp_path)(), data)
    monkeypatch.chdir(tmp_path)
    assert jnp.array_equal(build(spec)(), data)  # a spec as data: the working directory


def test_toml_and_json_files(tmp_path):
    (tmp_path / "model.json").write_text(json.dumps(SPEC))
    (tmp_path / "model.toml").write_text(
        """
        [object]
        type = "direct"
        data_or_initializer = [[1.0, 2.0], [3.0, 4.0]]

        [probe]
        type = "direct"
        data_or_initializer = {init = "normal", shape = [4, 4], seed = 0, dtype = "complex64"}

        [positions]
        type = "index_slice"
        parameters = [[0.0, 0.0], [0.0, 2.0], [2.0, 0.0]]

        [[frames]]
        type = "direct"
        data_or_initializer = {init = "zeros", shape = [2]}

        [[frames]]
        type = "direct"
        data_or_initializer = {init = "full", shape = [2], value = 7}
        """
    )
    assert_same_tree(build(tmp_path / "model.json"), expected())
    assert_same_tree(build(str(tmp_path / "model.toml")), expected())


def error(spec, kind=SpecError, **kwargs):
    with pytest.raises(SpecError) as info:
        build(spec, **kwargs)
    assert isinstance(info.value, kind)
    return str(info.value)


def test_an_unknown_type_lists_the_names_and_the_distribution():
    message = error({"object": {"type": "phase_only"}}, UnknownParametrizationError)
    assert message.startswith('spec["object"]["type"]: No parametrization is registered')
    assert "pip install ptyrax-phase-only" in message
    assert "Registered: direct, index_slice" in message
    assert "Did you mean 'index_slice'?" in error({"type": "index_slise"}, KeyError)
    assert "a registry name (a string); got 3" in error({"type": 3}, TypeError)


def test_unknown_and_missing_arguments_name_the_key_and_the_type():
    message = error({"probe": {"type": "direct", "data": [1.0]}}, TypeError)
    assert message == (
        "spec[\"probe\"]: direct (DirectArrayParametrization) has no argument 'data'; its "
        "arguments: data_or_initializer."
    )
    message = error({"positions": {"type": "index_slice", "dim": 0}}, TypeError)
    assert message.startswith(
        "spec[\"positions\"]: index_slice (IndexSliceParameter) needs the argument 'parameters'"
    )


def test_the_class_checks_fire_and_name_the_argument():
    spec = {"p": {"type": "index_slice", "parameters": [[1.0], [2.0]], "dim": 2}}
    message = error(spec, ValueError)
    assert message.startswith('spec["p"]: index_slice (IndexSliceParameter): dim=2 is out of range')
    message = error({"p": {"type": "index_slice", "parameters": [1.0], "dim": "x"}}, TypeError)
    assert "parameter 'dim'" in message and "Called with parameters" not in message
    message = error({"p": {"type": "direct", "data_or_initializer": "zeros"}}, TypeError)
    assert message.startswith('spec["p"]["data_or_initializer"]: \'zeros\' names a function')


@pytest.mark.parametrize(
    ("spec", "kind", "start"),
    [
        ({"init": "gauss", "shape": [2]}, ValueError, 'spec["init"]: unknown initializer'),
        ({"init": "normal", "shape": [2]}, TypeError, "spec: the initializer 'normal' needs"),
        ({"init": "zeros", "shape": [2], "seed": 0}, TypeError, 'spec["seed"]: the initializer'),
        ({"init": "zeros", "shape": [-1]}, TypeError, 'spec["shape"]: a shape'),
        ({"init": "zeros", "shape": 3}, TypeError, 'spec["shape"]: a shape'),
        ({"init": "zeros"}, TypeError, 'spec: this argument takes an array: give its "shape"'),
        ({"init": "zeros", "shape": [2], "dtype": "f99"}, ValueError, 'spec["dtype"]'),
        ({"init": "zeros", "shape": [2], "dtype": 4}, ValueError, 'spec["dtype"]'),
        ({"init": "uniform", "shape": [2], "seed": 0, "dtype": "c8"}, ValueError, 'spec["dtype"]'),
        ({"init": "normal", "shape": [2], "seed": 0, "dtype": "i4"}, ValueError, 'spec["dtype"]'),
        ({"init": "normal", "shape": [2], "seed": -1}, ValueError, 'spec["seed"]: an integer'),
        ({"init": "normal", "shape": [2], "seed": 1.5}, TypeError, 'spec["seed"]: an integer'),
        ({"init": "normal", "shape": [2], "seed": 0, "scale": "big"}, TypeError, 'spec["scale"]'),
        ({"array": [[1.0], [2.0, 3.0]]}, ValueError, 'spec["array"]: not an array'),
        ({"array": ["a"]}, TypeError, 'spec["array"]: an array of numbers'),
        ({"array": [1], "shape": [1]}, TypeError, 'spec["shape"]: an array spec has no key'),
        ({"npy": 3}, TypeError, 'spec["npy"]: a file path'),
        ({"npy": "missing.npy"}, ValueError, 'spec["npy"]: cannot read'),
        ({"x": [[1.0], [2.0, 3.0]]}, ValueError, 'spec["x"]: not an array: its rows differ'),
    ],
)
def test_bad_arrays_and_initializers(spec, kind, start):
    assert error(spec, kind).startswith(start)


def test_npy_files_never_unpickle(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "archive.npz", a=np.ones(2))
    assert "Object arrays cannot be loaded" in error({"npy": "objects.npy"}, base_dir=tmp_path)
    assert "is an .npz archive" in error({"npy": "archive.npz"}, ValueError, base_dir=tmp_path)


def test_bad_files_name_the_file(tmp_path):
    (tmp_path / "model.toml").write_text("[object\ntype = 1")
    (tmp_path / "model.json").write_text("{")
    (tmp_path / "model.yaml").write_text("a: 1")
    (tmp_path / "unknown.toml").write_text('[object]\ntype = "phase_only"')
    assert "model.toml: not a valid TOML file" in error(tmp_path / "model.toml", ValueError)
    assert "model.json: not a valid JSON file" in error(tmp_path / "model.json", ValueError)
    assert "a .toml or a .json file" in error(tmp_path / "model.yaml", ValueError)
    message = error(tmp_path / "unknown.toml", KeyError)
    assert message.startswith(f'{tmp_path / "unknown.toml"}: spec["object"]["type"]')
    with pytest.raises(FileNotFoundError):
        build(tmp_path / "absent.toml")
