"""`save` and `load`: a model tree of parametrizations and arrays, to one file and back."""

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import re
import secrets
import struct
import zipfile
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import registry
from ._array import ArrayParametrization
from ._build import _at
from ._errors import CheckpointError, UnknownParametrizationError
from ._firstparty import provider
from ._index import BoundSliceParameter, IndexDependentParameter
from ._packed import Packed, pack
from ._version import __version__

FORMAT = "ptyrax-checkpoint"
FORMAT_VERSION = 1
STRUCTURE = "ptyrax.json"
CHECKSUM = "ptyrax.json.sha256"
_DTYPE_CODE = re.compile(r"[<>|=]?[A-Za-z0-9_]+\Z")


def save(path: str | os.PathLike, tree: Any) -> None:
    """Write `tree` to the checkpoint file `path`: its structure as JSON, its arrays as `.npy`.

    `tree` holds registered parametrizations (of any installed plugin, nested too), JAX and
    NumPy arrays, NumPy scalars, and dicts (string or integer keys), lists, tuples and
    [`Packed`][ptyrax_core.Packed] models of them, with numbers, strings and None.
    [`load`][ptyrax_core.load] gives it back bit for bit, without a template. The file is a
    zip archive (readable by `numpy.load`) of:

    - `ptyrax.json`: the format version, ptyrax-core's version, the distribution and version of
      the plugin behind each registry name, a table of the arrays (tree path, dtype, shape, JAX
      or NumPy, SHA-256), and the tree: each parametrization as its registry name and the
      values of its fields, static ones included;
    - `ptyrax.json.sha256`: the SHA-256 of `ptyrax.json`;
    - `arrays/0.npy`, `arrays/1.npy`, ...: one array each, written without pickle (dtypes that
      `.npy` cannot name, such as bfloat16, as their raw bytes).

    The file is written next to `path` first (`.NAME.HEX.tmp`), flushed to the disk and moved
    over it at the end, so a failed save, a killed process or a power cut leaves at `path`
    the older file or the new one, whole, never a damaged one.

    Raises:
        TypeError: `tree` holds something else (an unregistered class, a function, a traced
            value, an object array, ...); the message names its path in the tree, such as
            `tree["object"].phase`. Nothing is written then.

    Example:
        >>> import os, tempfile
        >>> import jax.numpy as jnp
        >>> from ptyrax_core import DirectArrayParametrization, load, save
        >>> model = {"probe": DirectArrayParametrization(jnp.ones((4, 4), jnp.complex64))}
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     save(os.path.join(folder, "model.ptyrax"), model)
        ...     back = load(os.path.join(folder, "model.ptyrax"))
        >>> back["probe"]().dtype, bool((back["probe"]() == model["probe"]()).all())
        (dtype('complex64'), True)
    """
    path = pathlib.Path(path)
    writer = _Writer()
    root = writer.node(tree, "tree")  # checks everything before a byte is written
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        with open(temporary, "xb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for i, (array, entry) in enumerate(writer.arrays):
                host = _stored(np.asarray(array))
                entry["member"] = f"arrays/{i}.npy"
                with zf.open(entry["member"], "w", force_zip64=host.nbytes >= 2**30) as out:
                    hashing = _Hashing(out)
                    np.lib.format.write_array(hashing, host, allow_pickle=False)
                entry["sha256"] = hashing.sha.hexdigest()
            structure = json.dumps(
                {
                    "format": FORMAT,
                    "format_version": FORMAT_VERSION,
                    "ptyrax_core": __version__,
                    "plugins": writer.plugins,
                    "arrays": [entry for _, entry in writer.arrays],
                    "tree": root,
                },
                indent=1,
            ).encode()
            zf.writestr(STRUCTURE, structure)
            zf.writestr(CHECKSUM, hashlib.sha256(structure).hexdigest() + "\n")
        _durable(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _durable(path: pathlib.Path) -> None:
    """Make `path`'s bytes reach the disk before it is renamed into place: after a crash or a
    power cut the name holds the old file or the new one, whole."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def load(path: str | os.PathLike) -> Any:
    """The tree that [`save`][ptyrax_core.save] wrote to `path`, bit for bit.

    Parametrizations are rebuilt by registry name from the installed plugins, without running
    their `__init__`: each field gets its saved value, static configuration included. JAX arrays
    come back as JAX arrays (on the default device), NumPy arrays as NumPy arrays, each with its
    dtype and shape. Loading never unpickles and imports nothing but installed plugins (through
    the registry). The whole file is checked (its zip structure, the SHA-256 of the structure
    and of every array) before anything is built; a checkpoint loads whole or not at all.

    Raises:
        CheckpointError: (a `ValueError`) the file is not a ptyrax checkpoint, is truncated,
            altered or damaged, was written by a newer ptyrax-core, or holds a parametrization
            whose installed class has other fields than the saved one.
        UnknownParametrizationError: (a `KeyError`) the file holds a parametrization that no
            loaded plugin registers; the message names the distribution, and its version, that
            it was saved with: the one to install.
        FileNotFoundError: there is no file at `path`.

    Example:
        >>> import os, tempfile
        >>> import jax.numpy as jnp
        >>> from ptyrax_core import IndexSliceParameter, load, save
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     path = os.path.join(folder, "positions.ptyrax")
        ...     save(path, {"positions": IndexSliceParameter(jnp.zeros((5, 2))), "step": 40})
        ...     load(path)
        {'positions': IndexSliceParameter(parameters=f32[5,2], slice_dim=0), 'step': 40}
    """
    path = pathlib.Path(path)
    with open(path, "rb") as f:
        try:
            with zipfile.ZipFile(f) as zf:
                doc, arrays = _read(zf, path)
        except CheckpointError:
            raise
        except (
            zipfile.BadZipFile,
            zlib.error,
            EOFError,
            OSError,
            ValueError,
            KeyError,
            TypeError,
            IndexError,
            struct.error,
            NotImplementedError,
            RuntimeError,
        ) as e:
            raise CheckpointError(
                f"{path} is truncated or damaged, or not a ptyrax checkpoint: "
                f"{type(e).__name__}: {e}"
            ) from e
    try:
        return _Reader(path, doc, arrays).node(doc["tree"], "tree")
    except (CheckpointError, UnknownParametrizationError):
        raise
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise CheckpointError(
            f"{path} is not a valid ptyrax checkpoint: {type(e).__name__}: {e}"
        ) from e


class _Hashing:
    """A writable file that hashes what goes through it."""

    def __init__(self, out: Any):
        self.out, self.sha = out, hashlib.sha256()

    def write(self, data: Any) -> int:
        self.sha.update(data)
        return self.out.write(data)


def _dtype(code: str) -> np.dtype:
    if not _DTYPE_CODE.match(code):
        raise ValueError(f"not a dtype: {code!r}")
    return np.dtype(code)  # ml_dtypes' names (bfloat16, ...) too: JAX registers them


def _npy_exact(dtype: np.dtype) -> bool:
    """Whether a `.npy` header names `dtype` exactly (not so for bfloat16 and the like)."""
    fmt = np.lib.format
    return fmt.descr_to_dtype(fmt.dtype_to_descr(dtype)) == dtype


def _stored(host: np.ndarray) -> np.ndarray:
    return host if _npy_exact(host.dtype) else host.view(f"u{host.dtype.itemsize}")


class _Writer:
    """Encodes a tree as JSON nodes, collecting its arrays and the plugins it uses."""

    def __init__(self) -> None:
        self.arrays: list[tuple[Any, dict[str, Any]]] = []
        self.plugins: dict[str, dict[str, str]] = {}

    def node(self, x: Any, where: str) -> Any:
        if x is None or type(x) in (bool, int, float, str):
            return x
        if type(x) is complex:
            return {"complex": [x.real, x.imag]}
        if isinstance(x, ArrayParametrization | IndexDependentParameter):
            return self.parametrization(x, where)
        if isinstance(x, Packed):
            return {"packed": self.node(x.unpack(), f"{where}.unpack()")}
        if isinstance(x, jax.core.Tracer):
            raise TypeError(
                f"{where} is a traced value: save the model outside jax.jit, jax.vmap and jax.grad."
            )
        if isinstance(x, jax.Array | np.ndarray | np.generic):
            return {"array": self.array(x, where)}
        if isinstance(x, np.dtype):
            return {"dtype": self.dtype_code(x, where)}
        if type(x) in (tuple, list):
            items = [self.node(v, f"{where}[{i}]") for i, v in enumerate(x)]
            return {type(x).__name__: items}
        if type(x) is dict:
            for key in x:
                if type(key) not in (str, int):
                    raise TypeError(
                        f"{where} has the key {key!r}: a checkpoint keeps dicts with string "
                        "or integer keys."
                    )
            return {"dict": [[k, self.node(v, _at(where, k))] for k, v in x.items()]}
        raise TypeError(
            f"{where} is a {_qualname(type(x))}, which a checkpoint cannot hold. {_hint(x)}"
        )

    def dtype_code(self, dtype: np.dtype, where: str) -> str:
        for code in (dtype.name, dtype.str):
            try:
                if not dtype.hasobject and _dtype(code) == dtype:
                    return code
            except (TypeError, ValueError):
                pass
        raise TypeError(f"{where} has the dtype {dtype}, which a checkpoint cannot hold.")

    def array(self, x: Any, where: str) -> int:
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            raise TypeError(
                f"{where} is an array of PRNG keys: save jax.random.key_data(key) instead."
            )
        dtype = np.dtype(x.dtype)
        if dtype.kind not in "biufcV" or dtype.names is not None:
            raise TypeError(
                f"{where} is an array of dtype {dtype}: a checkpoint holds arrays of numbers "
                "and booleans."
            )
        kind = (
            "jax"
            if isinstance(x, jax.Array)
            else "numpy"
            if isinstance(x, np.ndarray)
            else "numpy_scalar"
        )
        entry = {"path": where, "kind": kind, "dtype": self.dtype_code(dtype, where)}
        self.arrays.append((x, {**entry, "shape": list(x.shape)}))
        return len(self.arrays) - 1

    def parametrization(self, x: Any, where: str) -> dict[str, Any]:
        cls = type(x)
        name = cls.__dict__.get("registry_name")
        if not (isinstance(name, str) and name in registry.names() and registry.get(name) is cls):
            raise TypeError(
                f"{where} is a {_qualname(cls)}, which is not a registered parametrization: a "
                "checkpoint rebuilds parametrizations by registry name. "
                + (
                    f"Its registry name {name!r} is not registered (is its plugin loaded? "
                    "see `ptyrax plugins`)."
                    if isinstance(name, str) and name not in registry.names()
                    else "Give the class its own registry_name and register it through a "
                    "plugin's ptyrax_parametrizations hook."
                )
            )
        fields = [f.name for f in dataclasses.fields(x)]
        state = vars(x)  # a field left at its class default is not in it, and stays so
        # equinox's unflatten may set its wrapper attributes (__doc__, __module__, ...) to a
        # placeholder, when a field was left at its class default: not data, not saved.
        extra = sorted(k for k in set(state) - set(fields) if not _is_dunder(k))
        if extra:
            raise TypeError(
                f"{where} is a {_qualname(cls)} with attributes that are not fields, {extra}; "
                "a checkpoint saves a parametrization's fields."
            )
        plugin = registry._plugin_of(name)
        self.plugins[name] = {"distribution": plugin.distribution, "version": plugin.version}
        return {
            "type": name,
            "fields": {f: self.node(state[f], f"{where}.{f}") for f in fields if f in state},
        }


def _key(key: Any) -> bool:
    return type(key) in (str, int)


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _hint(x: Any) -> str:
    if isinstance(x, BoundSliceParameter):
        return "Save the model before resolve_parametrizations binds it at an index."
    if callable(x):
        return "Functions are code, not data: keep what they compute instead."
    return (
        "It holds registered parametrizations, JAX and NumPy arrays, dicts, lists and tuples "
        "of them, numbers, strings and None: put this object's arrays in a dict."
    )


def _read(zf: zipfile.ZipFile, path: pathlib.Path) -> tuple[dict, list[np.ndarray]]:
    """The structure document and the arrays, every checksum verified."""
    names = zf.namelist()
    if STRUCTURE not in names or CHECKSUM not in names:
        raise CheckpointError(f"{path} is not a ptyrax checkpoint: it has no {STRUCTURE}.")
    structure = zf.read(STRUCTURE)
    if hashlib.sha256(structure).hexdigest() != zf.read(CHECKSUM).decode("ascii").strip():
        raise CheckpointError(
            f"{path} was altered or damaged: the SHA-256 of its {STRUCTURE} does not match "
            f"{CHECKSUM}."
        )
    doc = json.loads(structure)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a ptyrax checkpoint: {STRUCTURE} names no {FORMAT}.")
    version = doc.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by ptyrax-core {doc.get('ptyrax_core')} in checkpoint format "
            f"{version!r}; this ptyrax-core, {__version__}, reads format {FORMAT_VERSION} and "
            "older: upgrade ptyrax-core."
        )
    plugins = doc.get("plugins")
    if not (isinstance(plugins, dict) and all(isinstance(v, dict) for v in plugins.values())):
        raise CheckpointError(
            f"{path} is not a valid ptyrax checkpoint: the plugins of its {STRUCTURE} are not a "
            "table of registry name -> distribution and version."
        )
    entries = doc["arrays"]
    members = [STRUCTURE, CHECKSUM, *(e["member"] for e in entries)]
    if sorted(names) != sorted(members):
        raise CheckpointError(
            f"{path} was altered: it holds the files {sorted(names)}, but its {STRUCTURE} "
            f"lists {sorted(members)}."
        )
    arrays = []
    for entry in entries:
        data = zf.read(entry["member"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise CheckpointError(
                f"{path} was altered or damaged: the SHA-256 of {entry['member']}, the array "
                f"at {entry['path']}, does not match the one in {STRUCTURE}."
            )
        host = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        dtype = _dtype(entry["dtype"])
        if not _npy_exact(dtype) and host.dtype == np.dtype(f"u{dtype.itemsize}"):
            host = host.view(dtype)
        if host.dtype != dtype or list(host.shape) != entry["shape"]:
            raise CheckpointError(
                f"{path}: {entry['member']} holds an array of dtype {host.dtype} and shape "
                f"{host.shape}, but {STRUCTURE} says {entry['dtype']} {entry['shape']}."
            )
        arrays.append(host)
    return doc, arrays


@dataclasses.dataclass
class _Reader:
    """Rebuilds the tree from its JSON nodes and the verified arrays."""

    path: pathlib.Path
    doc: dict[str, Any]
    arrays: list[np.ndarray]

    def fail(self, where: str, problem: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {where}: {problem}")

    def node(self, n: Any, where: str) -> Any:
        if n is None or type(n) in (bool, int, float, str):
            return n
        if isinstance(n, dict) and "type" in n:
            return self.parametrization(n, where)
        if not (isinstance(n, dict) and len(n) == 1):
            raise self.fail(where, f"not a node of the checkpoint format: {n!r:.100}")
        ((kind, body),) = n.items()
        if kind in ("list", "tuple") and isinstance(body, list):
            items = [self.node(v, f"{where}[{i}]") for i, v in enumerate(body)]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(body, list):
            for item in body:  # keys as save writes them: strings and integers
                if not (isinstance(item, list) and len(item) == 2 and _key(item[0])):
                    raise self.fail(
                        where,
                        "not a valid ptyrax checkpoint: a dict's entry is a [key, node] pair, "
                        f"its key a string or an integer; got {item!r:.100}",
                    )
            return {k: self.node(v, _at(where, k)) for k, v in body}
        if kind == "array" and type(body) is int and 0 <= body < len(self.arrays):
            return self.array(body, where)
        if kind == "packed":
            return pack(self.node(body, f"{where}.unpack()"))
        if kind == "complex":
            return complex(*body)
        if kind == "dtype":
            return _dtype(body)
        raise self.fail(where, f"not a node of the checkpoint format: {n!r:.100}")

    def array(self, i: int, where: str) -> Any:
        host, kind = self.arrays[i], self.doc["arrays"][i]["kind"]
        if kind == "numpy":
            return host if host.flags.writeable else host.copy()
        if kind == "numpy_scalar":
            return host[()]
        array = jnp.asarray(host)
        if array.dtype != host.dtype:
            raise self.fail(
                where,
                f"a JAX array of dtype {host.dtype}, which JAX holds as {array.dtype} as "
                "configured: enable 64-bit types first, "
                "jax.config.update('jax_enable_x64', True).",
            )
        return array

    def parametrization(self, n: dict[str, Any], where: str) -> Any:
        name = n["type"]
        saved = self.doc["plugins"].get(name, {})
        dist = saved.get("distribution") or provider(name)
        saved_with = f"{dist} {saved.get('version', '')}".strip()
        try:
            cls = registry.get(name)
        except UnknownParametrizationError:
            install = (
                f"saved with {saved_with}, which is not installed or failed to load (see "
                f"`ptyrax plugins`): pip install {dist}."
                if dist
                else "which no loaded plugin registers."
            )
            raise UnknownParametrizationError(
                f"{self.path}: {where} is the parametrization {name!r}, {install} Registered: "
                f"{', '.join(registry.names())}."
            ) from None
        fields = [f.name for f in dataclasses.fields(cls)]
        defaulted = {f.name for f in dataclasses.fields(cls) if hasattr(cls, f.name)}
        if not set(fields) - defaulted <= set(n["fields"]) <= set(fields):
            plugin = registry._plugin_of(name)
            raise self.fail(
                where,
                f"the saved {name!r} has the fields {sorted(n['fields'])}, but the installed "
                f"{_qualname(cls)} ({plugin.distribution} {plugin.version}) has "
                f"{sorted(fields)}; it was saved with {saved_with}.",
            )
        obj = object.__new__(cls)  # as equinox's own unflatten does: __init__ does not run
        for f in fields:  # in the class's order; a field saved at its default stays so
            if f in n["fields"]:
                object.__setattr__(obj, f, self.node(n["fields"][f], f"{where}.{f}"))
        for parent in cls.__mro__:
            check = parent.__dict__.get("__check_init__")
            if check is not None:
                try:
                    check(obj)
                except Exception as e:
                    raise self.fail(where, f"{_qualname(cls)} refuses the saved values: {e}") from e
        return obj
