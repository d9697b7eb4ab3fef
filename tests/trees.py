"""Helpers for the spec and checkpoint tests: exact tree comparison, checkpoint surgery."""

import hashlib
import json
import zipfile

import jax
import numpy as np

from ptyrax_core._checkpoint import CHECKSUM, STRUCTURE


def assert_same_tree(a, b):
    """The same pytree bit for bit: structure and static fields, leaf types, dtypes, bytes."""
    assert jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        if isinstance(x, jax.Array):
            assert isinstance(y, jax.Array), type(y)
        else:
            assert type(x) is type(y), (type(x), type(y))
        if hasattr(x, "dtype"):
            assert x.dtype == y.dtype and x.shape == y.shape
            assert np.asarray(x).tobytes() == np.asarray(y).tobytes()
        else:
            assert x == y


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_members(path, files):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)


def rewrite(path, edit, rehash=True):
    """Apply `edit(doc, files)` to a checkpoint's structure document (and its other files), and
    write it back with a valid zip; with `rehash`, with a matching checksum too."""
    files = members(path)
    doc = json.loads(files[STRUCTURE])
    edit(doc, files)
    files[STRUCTURE] = json.dumps(doc).encode()
    if rehash:
        files[CHECKSUM] = hashlib.sha256(files[STRUCTURE]).hexdigest().encode()
    write_members(path, files)


def to_toml(spec):
    """A spec (a dict of dicts, lists, strings, numbers and booleans) as TOML text."""

    def inline(v):
        if isinstance(v, dict):
            return "{" + ", ".join(f"{json.dumps(k)} = {inline(x)}" for k, x in v.items()) + "}"
        if isinstance(v, list):
            return "[" + ", ".join(inline(x) for x in v) + "]"
        if isinstance(v, bool):
            return "true" if v else "false"
        return json.dumps(v) if isinstance(v, str) else repr(v)

    top = [f"{json.dumps(k)} = {inline(v)}" for k, v in spec.items() if not isinstance(v, dict)]
    tables = [
        f"[{json.dumps(k)}]\n" + "\n".join(f"{json.dumps(a)} = {inline(x)}" for a, x in v.items())
        for k, v in spec.items()
        if isinstance(v, dict)
    ]
    return "\n\n".join(top + tables) + "\n"
