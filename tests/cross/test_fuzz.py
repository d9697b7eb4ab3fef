"""Fuzzers for `build` and `load` (tox env `all`): malformed specs and damaged checkpoints.

Whatever they are given, `build` raises a `SpecError` (docs/specs.md, "Errors") and `load` a
`CheckpointError` or an `UnknownParametrizationError` (docs/checkpoints.md, "Safety and
damage"), never another exception; and what they return is a whole model, never a half-built
one. Integers in random specs stay small (shapes are made of them: a spec that asks for
terabytes is refused by the machine, not by the library); large numbers are tried where they
cannot be sizes.
"""

import atexit
import hashlib
import io
import json
import pathlib
import shutil
import tempfile
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import strategies  # tests/cross/strategies.py
from hypothesis import given, settings, strategies as st
from test_specs_and_checkpoints import SPECS  # the valid specs, one or more per name
from trees import assert_same_tree, members, write_members  # tests/trees.py

from ptyrax_core import (
    ArrayParametrization,
    CheckpointError,
    IndexDependentParameter,
    Packed,
    SpecError,
    UnknownParametrizationError,
    build,
    load,
    parametrizations as P,
    registry,
    resolve_parametrizations,
    save,
)
from ptyrax_core._checkpoint import CHECKSUM, STRUCTURE

FUZZ = settings(strategies.BOUNDED, max_examples=60)

FOLDER = pathlib.Path(tempfile.mkdtemp(prefix="ptyrax-fuzz-"))  # files the specs may name
atexit.register(shutil.rmtree, FOLDER, ignore_errors=True)
np.save(FOLDER / "probe.npy", np.ones((2, 4, 4), np.complex64))
np.save(FOLDER / "words.npy", np.array(["ab", "cd"]))
np.save(FOLDER / "dates.npy", np.array(["2020-01-01"], "M8[D]"))
np.save(FOLDER / "records.npy", np.zeros(2, [("a", "i4")]))
np.save(FOLDER / "objects.npy", np.array([None, 1], object), allow_pickle=True)
np.savez(FOLDER / "both.npz", a=np.ones(2))
(FOLDER / "text.npy").write_text("not an array")
(FOLDER / "folder.npy").mkdir()

NAMES = strategies.registered_names()
ARGUMENTS = sorted(
    {a for name in NAMES for a in __import__("inspect").signature(registry.get(name)).parameters}
)
WORDS = [
    *NAMES,
    *ARGUMENTS,
    *("type init npy array shape dtype seed value mean scale low high".split()),
    *("zeros ones full normal uniform mean_l2_norm phase_only_exp wavelet_decompose".split()),
    *("float32 complex64 bfloat16 int8 bool uint64 float7 O S3 V4 M8 <f4 c16".split()),
    *("probe.npy words.npy dates.npy records.npy objects.npy both.npz text.npy".split()),
    *("folder.npy absent.npy ../probe.npy /dev/null haar db2 sym2 coif1 db99".split()),
    "",
    "wavelett",
    "Direct",
]

words = st.sampled_from(WORDS) | st.text(max_size=6)
numbers = (
    st.integers(-3, 8)
    | st.sampled_from([0.0, -0.0, 0.5, -1.5, 2.0, 1e-300, 1e300, float("inf"), float("nan")])
    | st.floats(-10, 10)
)
leaves = st.none() | st.booleans() | numbers | words
junk = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(words, inner, max_size=4),
    max_leaves=12,
)
# JSON and TOML hold integers of any size: where a number is not a size, try huge ones too.
huge = st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**400, -(10**400)])


def spec_paths(spec, where=()):
    """Every place in a spec (or a JSON document): dict keys and list items."""
    yield where
    if isinstance(spec, dict):
        for k, v in spec.items():
            yield from spec_paths(v, (*where, k))
    elif isinstance(spec, list):
        for i, v in enumerate(spec):
            yield from spec_paths(v, (*where, i))


@st.composite
def mutated(draw, spec, replacements=junk):
    """`spec` with one place deleted, replaced, or given an extra key."""
    spec = json.loads(json.dumps(spec))
    places = list(spec_paths(spec))[1:]
    if not places:
        return draw(replacements)
    *parents, last = draw(st.sampled_from(places))
    parent = spec
    for key in parents:
        parent = parent[key]
    how = draw(st.sampled_from(["delete", "replace", "extra", "rename_type"]))
    if how == "delete":
        del parent[last]
    elif how == "extra" and isinstance(parent, dict):
        parent[draw(words)] = draw(replacements)
    elif how == "rename_type" and isinstance(parent, dict) and "type" in parent:
        parent["type"] = draw(st.sampled_from(NAMES) | words)
    else:
        parent[last] = draw(replacements)
    return spec


def valid_specs():
    return st.sampled_from(sorted(SPECS)).map(lambda case: SPECS[case][0])


def is_parameter(x):
    return isinstance(x, ArrayParametrization | IndexDependentParameter)


def assert_whole(model):
    """What build or load returned is a model that works: every parametrization in it has all
    its fields, every leaf is an array, and resolving it gives arrays of the declared shapes."""
    parameters = [
        x for x in jax.tree_util.tree_leaves(model, is_leaf=is_parameter) if is_parameter(x)
    ]
    for p in parameters:
        for field in p.__dataclass_fields__:
            getattr(p, field)  # raises AttributeError for a field left unset
        assert all(eqx_array(x) for x in jax.tree_util.tree_leaves(p)), p
        if isinstance(p, ArrayParametrization):
            assert p().shape == p.shape
        else:
            assert 0 < p.n
            jax.tree_util.tree_map(lambda x: x.shape, p.at_index(p.n - 1))
            resolve_parametrizations({"p": p}, 0)
    resolve_parametrizations(model)


def eqx_array(x):
    return isinstance(x, jax.Array | np.ndarray)


def build_or_spec_error(spec, **kwargs):
    try:
        model = build(spec, **kwargs)
    except SpecError as e:
        where = f"{spec}: " if isinstance(spec, pathlib.Path) else "spec"
        assert str(e).startswith(where), str(e)  # it says where the problem is
        assert isinstance(e, KeyError | TypeError | ValueError)  # and the builtin of its kind
        return None
    assert_whole(model)
    return model


# --- build ----------------------------------------------------------------------------------


@FUZZ
@given(spec=junk.filter(lambda s: not isinstance(s, str)))  # a string is a spec file's path
def test_build_random_trees(spec):
    build_or_spec_error(spec, base_dir=FOLDER)


@FUZZ
@given(data=st.data())
def test_build_random_parametrization_specs(data):
    """A known or unknown `type` with random arguments: the signature's names and others."""
    name = data.draw(st.sampled_from(NAMES) | words, label="type")
    arguments = data.draw(st.dictionaries(st.sampled_from(ARGUMENTS) | words, junk, max_size=4))
    build_or_spec_error({"type": name, **arguments}, base_dir=FOLDER)


@settings(FUZZ, max_examples=150)
@given(spec=valid_specs().flatmap(mutated))
def test_build_mutated_valid_specs(spec):
    """Each valid spec with one key deleted or added, or one value replaced."""
    build_or_spec_error({"model": spec}, base_dir=FOLDER)


@FUZZ
@given(spec=valid_specs().flatmap(lambda s: mutated(s, huge)))
def test_build_huge_numbers(spec):
    build_or_spec_error(spec, base_dir=FOLDER)


@pytest.mark.parametrize(
    "spec",
    [
        {"init": "zeros", "shape": [2**62, 2**62]},  # once aborted the process (XLA)
        {"init": "zeros", "shape": [2**64]},
        {"init": "normal", "shape": [2], "seed": 2**64},
        {"init": "full", "shape": [2], "value": 10**400},
        {"init": "uniform", "shape": [2], "seed": 0, "high": 10**400},
        {"type": "direct", "data_or_initializer": [2**70]},
        {"type": "direct", "data_or_initializer": {"npy": "words.npy"}},
        {"type": "binary", "data_or_initializer": [1.0], "threshold": 10**400},
        {"type": "normalized", "initial_data": [1.0], "scale": -(10**400)},
    ],
)
def test_build_values_no_array_can_hold(spec):
    with pytest.raises(SpecError):
        build(spec, base_dir=FOLDER)


def nested(depth):
    spec = 1.0
    for _ in range(depth):
        spec = [spec]
    return spec


@pytest.mark.parametrize("depth", [500, 100_000])
def test_build_deep_nesting(depth, tmp_path):
    text = "[" * depth + "]" * depth
    (tmp_path / "spec.json").write_text(text)
    (tmp_path / "spec.toml").write_text(f"a = {text}")
    for spec in (tmp_path / "spec.json", tmp_path / "spec.toml"):
        with pytest.raises(SpecError, match=str(spec)):
            build(spec)
    if depth < 1000:  # as data: deeper than Python's recursion limit is hard to even make
        with pytest.raises(SpecError, match="nested too deeply"):
            build(nested(depth))


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".json", ".toml"]))
def test_build_damaged_files(data, suffix):
    """A valid spec file cut short or with a byte changed, and files of random bytes."""
    spec = data.draw(valid_specs(), label="spec")
    text = (json.dumps(spec) if suffix == ".json" else _toml(spec)).encode()
    how = data.draw(st.sampled_from(["cut", "byte", "random"]), label="how")
    if how == "cut":
        text = text[: data.draw(st.integers(0, len(text)))]
    elif how == "byte":
        i = data.draw(st.integers(0, len(text) - 1))
        text = text[:i] + bytes([data.draw(st.integers(0, 255))]) + text[i + 1 :]
    else:
        text = data.draw(st.binary(max_size=64))
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / f"model{suffix}"
        path.write_bytes(text)
        build_or_spec_error(path, base_dir=FOLDER)


def _toml(spec):
    from trees import to_toml

    return to_toml({"model": spec})


# --- load -----------------------------------------------------------------------------------


class Saved:
    """A checkpoint's bytes and the tree saved in it (shown short in hypothesis' reports)."""

    def __init__(self, data, tree):
        self.data, self.tree = data, tree

    def __repr__(self):
        return f"<a checkpoint of {len(self.data)} bytes>"


@pytest.fixture(scope="module")
def saved():
    """A checkpoint of the first-party parametrizations (built from the valid specs) and of
    the other kinds of leaves a checkpoint holds. (Every registered name's checkpoints are
    checked bit for bit by test_properties.py.)"""
    tree = {
        "models": {case: build(spec) for case, (spec, _) in SPECS.items()},
        "plain": [np.arange(3), np.float32(2.5), 3, "x", None, 1.5 + 2j, np.dtype("int8")],
        "bfloat16": P.DirectArrayParametrization(jnp.ones(2, jnp.bfloat16)),
    }
    path = FOLDER / "model.ptyrax"
    save(path, tree)
    return Saved(path.read_bytes(), tree)


def load_bytes(data):
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "model.ptyrax"
        path.write_bytes(data)
        return load(path)


def load_or_documented_error(data):
    try:
        return load_bytes(data)
    except (CheckpointError, UnknownParametrizationError):
        return None


def test_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "absent.ptyrax")


@FUZZ
@given(data=st.data())
def test_load_truncated(saved, data):
    original = saved.data
    cut = data.draw(st.integers(0, len(original) - 1))
    with pytest.raises(CheckpointError):
        load_bytes(original[:cut])


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_load_bit_flips(saved, data):
    """Flipped bits are found, or fell where they change nothing (a zip timestamp)."""
    original, tree = saved.data, saved.tree
    damaged = bytearray(original)
    for i in data.draw(st.lists(st.integers(0, 8 * len(original) - 1), min_size=1, max_size=4)):
        damaged[i // 8] ^= 1 << (i % 8)
    back = load_or_documented_error(bytes(damaged))
    if back is not None:
        assert_same_tree(back, tree)


@FUZZ
@given(data=st.binary(max_size=512) | st.binary(max_size=512).map(lambda b: b"PK\x03\x04" + b))
def test_load_random_bytes(data):
    with pytest.raises(CheckpointError):
        load_bytes(data)


def rewritten(original, edit):
    """The checkpoint with `edit(doc, files)` applied, its checksum made to match again: an
    alteration that no checksum can find, which load must still refuse or load whole."""
    with tempfile.TemporaryDirectory() as folder:
        path = pathlib.Path(folder) / "model.ptyrax"
        path.write_bytes(original)
        files = members(path)
        doc = json.loads(files[STRUCTURE])
        edit(doc, files)
        files[STRUCTURE] = json.dumps(doc).encode()
        files[CHECKSUM] = hashlib.sha256(files[STRUCTURE]).hexdigest().encode()
        write_members(path, files)
        return path.read_bytes()


node_junk = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 40) | st.floats(-3, 3) | words,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["dict", "list", "tuple", "array", "complex", "dtype", "packed", "type"]
            )
            | st.sampled_from(["fields", "path", "kind", "member", "sha256", "shape", "format"])
            | words,
            inner,
            max_size=2,
        )
    ),
    max_leaves=6,
)


@settings(FUZZ, max_examples=200)
@given(data=st.data())
def test_load_altered_structure(saved, data):
    """One place of ptyrax.json deleted or replaced, the checksum recomputed: refused with a
    documented error, or a whole model."""
    original = saved.data
    doc = json.loads(members_of(original)[STRUCTURE])
    place = data.draw(st.sampled_from(list(spec_paths(doc))[1:]), label="place")
    delete = data.draw(st.booleans(), label="delete")
    junk_node = data.draw(node_junk, label="value")

    def edit(doc, files):
        *parents, last = place
        parent = doc
        for key in parents:
            parent = parent[key]
        if delete and isinstance(parent, dict):
            del parent[last]
        else:
            parent[last] = junk_node

    back = load_or_documented_error(rewritten(original, edit))
    if back is not None:
        assert_complete(back)


@FUZZ
@given(data=st.data())
def test_load_altered_arrays(saved, data):
    """An array replaced by another array or by random bytes, its SHA-256 made to match."""
    original, tree = saved.data, saved.tree
    doc = json.loads(members_of(original)[STRUCTURE])
    i = data.draw(st.integers(0, len(doc["arrays"]) - 1), label="array")
    if data.draw(st.booleans(), label="random bytes"):
        replacement = data.draw(st.binary(max_size=200))
    else:
        dtype = data.draw(st.sampled_from(["f4", "f8", "c8", "i1", "u2", "?", "V2"]))
        shape = tuple(data.draw(st.lists(st.integers(0, 3), max_size=3)))
        buffer = io.BytesIO()
        np.save(buffer, np.zeros(shape, dtype), allow_pickle=False)
        replacement = buffer.getvalue()

    def edit(doc, files):
        entry = doc["arrays"][i]
        files[entry["member"]] = replacement
        entry["sha256"] = hashlib.sha256(replacement).hexdigest()

    back = load_or_documented_error(rewritten(original, edit))
    if back is not None:  # the same dtype and shape: a model with other values, whole
        assert_complete(back)
        assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(tree)


def members_of(data):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def assert_complete(tree):
    """An altered file that loads is made only of what a checkpoint holds: registered
    parametrizations with every field set, arrays, containers and plain values. (Walked by
    hand: a dict may mix string and integer keys, which jax.tree_util cannot sort.)"""
    if is_parameter(tree):
        assert registry.get(type(tree).registry_name) is type(tree)
        for field in tree.__dataclass_fields__:
            assert_complete(getattr(tree, field))  # AttributeError for a field left unset
    elif isinstance(tree, Packed):
        assert_complete(tree.unpack())
    elif type(tree) is dict:
        assert all(type(k) in (str, int) for k in tree), list(tree)
        for v in tree.values():
            assert_complete(v)
    elif type(tree) in (list, tuple):
        for v in tree:
            assert_complete(v)
    else:
        assert tree is None or eqx_array(tree) or isinstance(tree, PLAIN), type(tree)


PLAIN = (np.generic, np.dtype, bool, int, float, complex, str)  # what a checkpoint node holds
