"""ptyrax_core.save and load with core's built-ins: round trips, the format, bad files."""

import json
import pickle
import zipfile

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from trees import assert_same_tree, members, rewrite  # tests/trees.py

import ptyrax_core
from ptyrax_core import (
    CheckpointError,
    DirectArrayParametrization,
    IndexSliceParameter,
    UnknownParametrizationError,
    load,
    resolve_parametrizations,
    save,
)
from ptyrax_core._checkpoint import CHECKSUM, STRUCTURE

pytestmark = pytest.mark.usefixtures("core_only")


def model():
    grid = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)
    return {
        "object": DirectArrayParametrization(jnp.exp(1j * grid)),
        "nested": DirectArrayParametrization(DirectArrayParametrization(grid)),
        "positions": IndexSliceParameter(jnp.arange(10.0).reshape(5, 2)),
        "frames": IndexSliceParameter(
            {"shift": grid, "defocus": DirectArrayParametrization(grid[:, 0])}, dim=0
        ),
        "bound": bound(IndexSliceParameter(grid, dim=-1), 2),
        "plain": [np.arange(3, dtype=np.int16), (jnp.array(True), np.float32(0.5), None)],
        "config": {"name": "run 7", "step": 1200, "rate": 1e-3, "flag": False, "z": 2 + 1j},
        "by_index": {3: "c", 1: 1.0},
        "dtypes": {
            "bfloat16": jnp.array([1.5, -2.0], jnp.bfloat16),
            "float16": np.array([np.nan, -0.0, np.inf], np.float16),
            "uint8": np.arange(4, dtype=np.uint8).reshape(2, 2).T,  # not C-contiguous
            "big_endian": np.arange(3, dtype=">f8"),
            "empty": jnp.zeros((0, 3)),
            "scalar": jnp.array(3, jnp.int32),
            "dtype": np.dtype("complex64"),
        },
    }


def bound(p, index):
    object.__setattr__(p, "_index", index)  # the static field, set as resolvers do not
    return p


def round_trip(tmp_path, tree):
    save(tmp_path / "model.ptyrax", tree)
    return load(tmp_path / "model.ptyrax")


def test_round_trip_is_bit_exact(tmp_path):
    tree = model()
    back = round_trip(tmp_path, tree)
    assert_same_tree(back, tree)
    assert isinstance(back["plain"][0], np.ndarray) and back["plain"][0].flags.writeable
    assert type(back["plain"][1][1]) is np.float32 and isinstance(back["plain"][1][0], jax.Array)
    assert back["dtypes"]["dtype"] == np.dtype("complex64")
    assert back["dtypes"]["big_endian"].dtype == np.dtype(">f8")
    assert list(back["config"]) == list(tree["config"])
    assert list(back["by_index"]) == [3, 1]
    assert back["bound"]._index == 2 and "_index" not in vars(back["positions"])
    assert jnp.array_equal(back["bound"].at_current_index(), tree["bound"].at_index(2))


def test_loaded_parametrizations_behave_as_the_originals(tmp_path):
    tree = model()
    back = round_trip(tmp_path, tree)
    for name in ("object", "nested"):
        assert type(back[name]) is DirectArrayParametrization
        assert jnp.array_equal(back[name](), tree[name]())
    assert back["positions"].n == 5 and back["frames"].dim == 0
    resolved = resolve_parametrizations(back, 2)
    assert jnp.array_equal(resolved["positions"].at_current_index(), jnp.array([4.0, 5.0]))

    def loss(m):
        m = resolve_parametrizations(m, 1)
        return jnp.sum(jnp.abs(m["object"])) + jnp.sum(m["frames"].at_current_index()["shift"])

    parts = ("object", "frames", "positions")
    grads = jax.jit(jax.grad(loss))({k: back[k] for k in parts})
    assert_same_tree(grads, jax.grad(loss)({k: tree[k] for k in parts}))


def test_a_model_after_a_jitted_update_round_trips(tmp_path):
    # as an optimizer's update leaves it: every module rebuilt by jax's unflatten
    tree = {k: v for k, v in model().items() if k in ("object", "positions", "frames", "nested")}
    updated = jax.jit(lambda t: jax.tree_util.tree_map(lambda x: x * 2, t))(tree)
    back = round_trip(tmp_path, updated)
    assert_same_tree(back, updated)
    assert jnp.array_equal(back["positions"].at_index(1), 2 * tree["positions"].at_index(1))


def test_a_single_parametrization_and_plain_values(tmp_path):
    for tree in (DirectArrayParametrization(jnp.ones(2)), jnp.ones(3), [], None, "text", 1.5):
        assert_same_tree(round_trip(tmp_path, tree), tree)


def test_the_file_is_a_documented_zip(tmp_path):
    save(tmp_path / "model.npz", {"probe": DirectArrayParametrization(jnp.ones((2, 2)))})
    files = members(tmp_path / "model.npz")
    assert set(files) == {STRUCTURE, CHECKSUM, "arrays/0.npy"}
    doc = json.loads(files[STRUCTURE])
    assert doc["format"] == "ptyrax-checkpoint" and doc["format_version"] == 1
    assert doc["ptyrax_core"] == ptyrax_core.__version__
    assert doc["plugins"] == {
        "direct": {"distribution": "ptyrax-core", "version": ptyrax_core.__version__}
    }
    (entry,) = doc["arrays"]
    assert entry["path"] == 'tree["probe"]._data' and entry["dtype"] == "float32"
    fields = {
        "output_shape": {"tuple": [2, 2]},
        "_member_ndims": {"tuple": [2]},  # a member's array dimensions, for stacks
        "_data": {"array": 0},
    }
    assert doc["tree"] == {"dict": [["probe", {"type": "direct", "fields": fields}]]}
    with np.load(tmp_path / "model.npz", allow_pickle=False) as npz:  # NumPy reads the arrays
        assert np.array_equal(npz["arrays/0"], np.ones((2, 2)))


def test_save_replaces_a_file_whole_or_not_at_all(tmp_path):
    path = tmp_path / "model.ptyrax"
    save(path, {"a": jnp.ones(2)})
    with pytest.raises(TypeError):
        save(path, {"a": jnp.zeros(2), "b": lambda: 0})
    save(path, {"a": jnp.zeros(2)})
    assert_same_tree(load(path), {"a": jnp.zeros(2)})
    assert [p.name for p in tmp_path.iterdir()] == ["model.ptyrax"]  # no temporary files left


class Unregistered(ptyrax_core.ArrayParametrization):
    data: jax.Array

    def __init__(self, data):
        self.data = data
        self.output_shape = data.shape

    def __call__(self):
        return self.data


class Sub(DirectArrayParametrization):
    pass  # inherits registry_name "direct", but is not the registered class


class Model(eqx.Module):
    probe: jax.Array


@pytest.mark.parametrize(
    ("tree", "start"),
    [
        ({"f": lambda: 1}, 'tree["f"] is a builtins.function, which a checkpoint cannot hold'),
        ({"p": Unregistered(jnp.ones(2))}, 'tree["p"] is a test_checkpoint.Unregistered, which'),
        ([Sub(jnp.ones(2))], "tree[0] is a test_checkpoint.Sub, which is not a registered"),
        (Model(jnp.ones(2)), "tree is a test_checkpoint.Model, which a checkpoint cannot hold"),
        ({(1, 2): jnp.ones(2)}, "tree has the key (1, 2)"),
        ({"a": np.array(["x"])}, 'tree["a"] is an array of dtype <U1'),
        ({"a": np.array([None])}, 'tree["a"] is an array of dtype object'),
        ({"k": jax.random.key(0)}, 'tree["k"] is an array of PRNG keys'),
        ({"s": {1, 2}}, 'tree["s"] is a builtins.set'),
        (
            {"b": resolve_parametrizations({"x": IndexSliceParameter(jnp.ones((2, 1)))}, 0)},
            'tree["b"]["x"] is a ptyrax_core._index.BoundSliceParameter',
        ),
    ],
)
def test_what_cannot_be_saved_is_refused_by_path(tmp_path, tree, start):
    with pytest.raises(TypeError) as info:
        save(tmp_path / "model.ptyrax", tree)
    assert str(info.value).replace("tests.core.", "").startswith(start)
    assert not list(tmp_path.iterdir())


def test_traced_values_are_refused(tmp_path):
    def inside(x):
        save(tmp_path / "model.ptyrax", {"x": x})
        return x

    with pytest.raises(TypeError, match=r'tree\["x"\] is a traced value'):
        jax.jit(inside)(jnp.ones(2))


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.ptyrax"
    save(path, model())
    return path


def refused(path, match):
    with pytest.raises(CheckpointError, match=match):
        load(path)


def test_a_truncated_file_is_refused(saved):
    data = saved.read_bytes()
    for size in (0, 10, len(data) // 2, len(data) - 1):
        saved.write_bytes(data[:size])
        refused(saved, "is truncated or damaged, or not a ptyrax checkpoint")


def test_flipped_bytes_are_refused_or_harmless(saved):
    """Every flipped byte either fails with a CheckpointError or leaves the content intact."""
    data, original = saved.read_bytes(), model()
    for position in range(0, len(data), 4):
        damaged = bytearray(data)
        damaged[position] ^= 0x5A
        saved.write_bytes(bytes(damaged))
        try:
            back = load(saved)
        except CheckpointError:
            continue
        assert_same_tree(back, original)  # a zip header field no content depends on


def test_an_altered_array_is_refused(saved):
    def alter(doc, files):
        files["arrays/0.npy"] = files["arrays/0.npy"][:-1] + b"\x00"

    rewrite(saved, alter)  # a valid zip: its CRC matches, the SHA-256 in ptyrax.json not
    refused(saved, r"the SHA-256 of arrays/0.npy, the array at tree\[\"object\"\]._data")


def test_an_edited_structure_is_refused(saved):
    rewrite(saved, lambda doc, files: doc["tree"]["dict"][0].__setitem__(0, "renamed"), False)
    refused(saved, "the SHA-256 of its ptyrax.json does not match ptyrax.json.sha256")


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda doc, files: files.pop("arrays/1.npy"), "it holds the files"),
        (lambda doc, files: files.__setitem__("extra.py", b"import os"), "it holds the files"),
        (lambda doc, files: doc.__setitem__("format", "other"), "names no ptyrax-checkpoint"),
        (lambda doc, files: doc.__setitem__("format_version", 2), "upgrade ptyrax-core"),
        (lambda doc, files: doc["arrays"][0].__setitem__("shape", [9]), "says complex64 \\[9\\]"),
        (lambda doc, files: doc["arrays"][0].__setitem__("dtype", "os.system"), "not a dtype"),
        (lambda doc, files: doc["tree"].__setitem__("set", []), "not a node of the checkpoint"),
        (lambda doc, files: doc.__setitem__("tree", {"array": 99}), "not a node of the checkpoint"),
        (lambda doc, files: doc.__setitem__("tree", {"dict": [1]}), "not a valid ptyrax"),
        (lambda doc, files: doc.pop("arrays"), "KeyError: 'arrays'"),
        (
            lambda doc, files: doc.__setitem__(
                "tree", {"type": "direct", "fields": {"output_shape": {"tuple": [1]}}}
            ),
            r"tree: the saved 'direct' has the fields \['output_shape'\], but the installed",
        ),
    ],
)
def test_a_consistent_but_invalid_file_is_refused(saved, edit, match):
    rewrite(saved, edit)
    refused(saved, match)


def test_files_that_are_not_checkpoints(tmp_path):
    (tmp_path / "text.ptyrax").write_text("not a zip")
    refused(tmp_path / "text.ptyrax", "File is not a zip file")
    np.savez(tmp_path / "arrays.npz", a=np.ones(2))
    refused(tmp_path / "arrays.npz", "is not a ptyrax checkpoint: it has no ptyrax.json")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.ptyrax")


class Payload:
    ran = False

    def __reduce__(self):
        return (Payload.run, ())

    @staticmethod
    def run():
        Payload.ran = True


def test_loading_never_unpickles(saved):
    """A pickled object array with a matching checksum is refused, and its code never runs."""
    import hashlib
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.array([Payload()], dtype=object), allow_pickle=True)

    def plant(doc, files):
        files["arrays/1.npy"] = buffer.getvalue()
        doc["arrays"][1]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()

    rewrite(saved, plant)
    pickle.loads(pickle.dumps(Payload()))  # the payload works when unpickled ...
    assert Payload.ran
    Payload.ran = False
    refused(saved, "Object arrays cannot be loaded when allow_pickle=False")
    assert not Payload.ran  # ... and load never unpickled it


def test_a_missing_plugin_names_the_distribution_to_install(saved):
    def rename(doc, files):
        doc["tree"] = {"type": "lab_thing", "fields": {}}
        doc["plugins"]["lab_thing"] = {"distribution": "ptyrax-lab-thing", "version": "2.1"}

    rewrite(saved, rename)
    with pytest.raises(UnknownParametrizationError) as info:
        load(saved)
    message = str(info.value)
    assert "tree is the parametrization 'lab_thing', saved with ptyrax-lab-thing 2.1" in message
    assert "pip install ptyrax-lab-thing" in message
    assert message.endswith("Registered: direct, index_slice.")


def test_a_first_party_plugin_that_is_not_installed(saved):
    rewrite(saved, lambda doc, files: doc.__setitem__("tree", {"type": "wavelet", "fields": {}}))
    with pytest.raises(KeyError, match="pip install ptyrax-wavelet"):
        load(saved)


def test_64_bit_arrays_need_64_bit_jax(saved):
    path = saved.parent / "wide.ptyrax"
    save(path, {"x": np.arange(3.0)})
    rewrite(path, lambda doc, files: doc["arrays"][0].__setitem__("kind", "jax"))
    if not jax.config.jax_enable_x64:
        refused(path, "jax_enable_x64")


def test_a_recompressed_file_still_loads(saved):
    files = members(saved)
    with zipfile.ZipFile(saved, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in reversed(files.items()):
            zf.writestr(name, data)
    assert_same_tree(load(saved), model())
