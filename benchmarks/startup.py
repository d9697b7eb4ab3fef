"""e. Start-up: `import ptyrax_core` and the discovery of every installed plugin, beyond
`import equinox`; and discovery with 50 more installed plugins.

Each sample is a fresh Python process, timed inside itself (interpreter start-up excluded):
one process imports equinox; the other imports equinox, then ptyrax_core, then discovers
the plugins (`ptyrax_core.registry.names()`: every installed plugin found, every registry
name known). The processes alternate, and the judged result is what the second spends after
importing equinox: what ptyrax adds to a program that uses equinox. Plugins are not selected
(PTYRAX_PLUGINS and PTYRAX_DISABLE_PLUGIN_AUTOLOAD are unset): everything installed is
discovered. The same process then times what discovery no longer does: the first use of one
plugin's name (`registry.get`, which imports that plugin), and importing all the others
(`registry.plugins()`); these are reported, not judged.

The 50 extra plugins are real distributions as far as `importlib.metadata` is concerned (a
`*.dist-info` folder each, with entry points), made in a temporary folder on PYTHONPATH; each
is a module with one small `ArrayParametrization` subclass and its hook. They are measured
twice: declaring their names (as `ptyrax new-plugin` writes them), and not.
"""

import json
import os
import py_compile
import statistics
import subprocess
import sys
import tempfile

from ._report import Row
from ._timing import Paired, interleaved, ms, pairs_of, quartiles

TITLE = "e. start-up"
PAIRS = {"full": 15, "smoke": 2}
DUMMIES = 50
TARGET_MS = 30.0
FIRST_USE = "phase_only"  # the name whose first use is timed, where installed
DESIGN_NOTE = (
    "design change: plugins declare their names in entry points, and discovery imports none "
    "of them (a plugin is imported at the first use of one of its names); pluggy, the spec "
    "reader and checkpoints are imported at first use; only distributions with ptyrax entry "
    "points have theirs parsed (was +65 ms, and +305 ms before beartype was imported at the "
    "first check); the full garbage collection that importing equinox leaves due is done "
    "before timing"
)

# Importing jax and equinox leaves a full garbage collection due (about 70 ms here, over their
# objects): without the collection right after it, whatever runs next pays it, ptyrax_core's
# import included. Both processes collect, outside what is compared.
_EQUINOX = """
import gc, json, time
t0 = time.perf_counter()
import equinox
t1 = time.perf_counter()
gc.collect()
print(json.dumps({"total": t1 - t0}))
"""

_PTYRAX = """
import gc, json, time
t0 = time.perf_counter()
import equinox
t_equinox = time.perf_counter() - t0
gc.collect()
t1 = time.perf_counter()
import ptyrax_core
t2 = time.perf_counter()
names = ptyrax_core.registry.names()
t3 = time.perf_counter()
if FIRST_USE in names:
    ptyrax_core.registry.get(FIRST_USE)
t4 = time.perf_counter()
plugins = ptyrax_core.registry.plugins()
t5 = time.perf_counter()
print(json.dumps({
    "total": t_equinox + t3 - t1, "import": t2 - t1, "discovery": t3 - t2,
    "first_use": t4 - t3 if FIRST_USE in names else None, "all": t5 - t4,
    "plugins": [p.name for p in plugins],
    "errors": [f"{p.name}: {p.error}" for p in plugins if p.error],
}))
"""

_DUMMY_MODULE = '''\
"""A dummy ptyrax plugin, for the start-up benchmark."""

from typing import ClassVar

import jax

import ptyrax_core


class Dummy{i:02d}ArrayParametrization(ptyrax_core.ArrayParametrization):
    """Twice its array."""

    registry_name: ClassVar[str] = "dummy_{i:02d}"
    x: jax.Array

    def __init__(self, x):
        self.x = x
        self.output_shape = tuple(x.shape)

    def __call__(self):
        return 2 * self.x


@ptyrax_core.hookimpl
def ptyrax_parametrizations():
    return [Dummy{i:02d}ArrayParametrization]
'''


def make_dummies(folder: str, n: int, declared: bool = True) -> None:
    """`n` installed-looking plugin distributions in `folder` (put it on PYTHONPATH), which
    declare their registry names in entry points if `declared`."""
    for i in range(n):
        module = f"ptyrax_dummy_{i:02d}"
        os.makedirs(os.path.join(folder, module))
        source = os.path.join(folder, module, "__init__.py")
        with open(source, "w") as f:
            f.write(_DUMMY_MODULE.format(i=i))
        py_compile.compile(source, doraise=True)  # as pip does when it installs a wheel
        info = os.path.join(folder, f"{module}-0.1.0.dist-info")
        os.makedirs(info)
        with open(os.path.join(info, "METADATA"), "w") as f:
            f.write(f"Metadata-Version: 2.1\nName: ptyrax-dummy-{i:02d}\nVersion: 0.1.0\n")
        with open(os.path.join(info, "entry_points.txt"), "w") as f:
            f.write(f"[ptyrax]\ndummy_{i:02d} = {module}\n")
            if declared:
                cls = f"{module}:Dummy{i:02d}ArrayParametrization"
                f.write(f"\n[ptyrax.parametrizations]\ndummy_{i:02d} = {cls}\n")


def _environment(extra_path: str | None = None) -> dict[str, str]:
    # Bytecode is cached, as for any installed distribution (pip compiles it; the warm-up
    # process writes it for editable installs): PYTHONDONTWRITEBYTECODE would have every
    # process compile the plugins' sources again.
    dropped = {
        "PTYRAX_PLUGINS",
        "PTYRAX_DISABLE_PLUGIN_AUTOLOAD",
        "PTYRAX_STRICT_PLUGINS",
        "PYTHONDONTWRITEBYTECODE",
    }
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["PYTHONWARNINGS"] = "ignore"  # a plugin that fails is reported in the table instead
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra_path, env.get("PYTHONPATH")]))
    return env


def _child(code: str, env: dict[str, str]) -> dict:
    # -P and a neutral working directory: import what is installed, not the source tree.
    done = subprocess.run(
        [sys.executable, "-P", "-c", code],
        env=env,
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the start-up child failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _compare(env_ptyrax: dict[str, str], pairs: int) -> tuple[list[dict], Paired]:
    """Pairs of (ptyrax process, equinox process): the ptyrax processes' records, and the
    pairs' times in seconds."""
    env_equinox = _environment()
    records: list[dict] = []

    def ptyrax() -> float:
        record = _child(f"FIRST_USE = {FIRST_USE!r}\n{_PTYRAX}", env_ptyrax)
        records.append(record)
        return record["total"]

    paired = interleaved(
        ptyrax,
        lambda: _child(_EQUINOX, env_equinox)["total"],
        pairs,
        warmup=1,
        self_timed=True,
    )
    return records[1:], paired  # records[0]: the warm-up's


def _spread(values: list[float], sign: str = "") -> str:
    """Median [quartiles] in ms; `sign="+"` marks the non-negative ones as differences."""
    q1, q3 = quartiles(values)
    shown = [f"{sign if v >= 0 else ''}{ms(v)}" for v in (statistics.median(values), q1, q3)]
    return f"{shown[0]} [{shown[1]}, {shown[2]}]"


def _median(records: list[dict], *keys: str) -> float:
    return statistics.median(sum(r[k] for k in keys) for r in records)


def run(mode: str) -> list[Row]:
    judged = mode == "full"
    pairs = PAIRS[mode]
    records, paired = _compare(_environment(), pairs)
    failed = sorted({e.split(":")[0] for r in records for e in r["errors"]})
    names = [n for n in records[0]["plugins"] if n != "builtins" and n not in failed]
    beyond = [r["import"] + r["discovery"] for r in records]
    equinox = paired.b_median
    rows = [
        Row(
            TITLE,
            f"import ptyrax_core and discover the {len(names)} installed plugins "
            f"({', '.join(names)}), beyond import equinox",
            _spread(beyond, "+"),
            f"import equinox: {ms(equinox)}",
            f"+{ms(statistics.median(beyond))} ({100 * statistics.median(beyond) / equinox:.1f} "
            f"% of import equinox); paired processes: {_spread(paired.differences, '+')}",
            f"<= {TARGET_MS:.0f} ms",
            1e3 * statistics.median(beyond) <= TARGET_MS if judged else None,
            f"{pairs_of(pairs)} of processes; import ptyrax_core {ms(_median(records, 'import'))}, "
            f"discovery {ms(_median(records, 'discovery'))} (`registry.names()`: every "
            f"registry name known, no plugin imported); {DESIGN_NOTE}"
            + (f"; failed to load: {', '.join(failed)}" if failed else ""),
        )
    ]
    if records[0]["first_use"] is not None:
        rows.append(
            Row(
                TITLE,
                f"then the first use of a name, `registry.get({FIRST_USE!r})`: imports its "
                "plugin (and pluggy, for the hooks)",
                _spread([r["first_use"] for r in records]),
                "",
                "",
                note="not part of start-up: paid by the program that uses the name, once",
            )
        )
    rows.append(
        Row(
            TITLE,
            "then importing every other plugin, `registry.plugins()` (as `ptyrax plugins` does)",
            _spread([r["all"] for r in records]),
            "",
            "",
            note="what discovery cost before plugins declared their names",
        )
    )
    for declared in (True, False):
        with tempfile.TemporaryDirectory(prefix="ptyrax-dummies-") as folder:
            make_dummies(folder, DUMMIES, declared)
            dummy_records, dummy_paired = _compare(_environment(folder), pairs)
        loaded = [n for n in dummy_records[0]["plugins"] if n.startswith("dummy_")]
        if len(loaded) != DUMMIES:
            raise RuntimeError(f"{DUMMIES} dummy plugins were made, {len(loaded)} were found")
        discovery = [r["discovery"] for r in dummy_records]
        extra = statistics.median(discovery) - _median(records, "discovery")
        how = (
            "declaring their names (as `ptyrax new-plugin` writes them)"
            if declared
            else "not declaring their names (each imported at discovery)"
        )
        rows.append(
            Row(
                TITLE,
                f"the same with {DUMMIES} more installed plugins (one small parametrization "
                f"each), {how}: discovery",
                _spread(discovery),
                "",
                f"+{ms(_median(dummy_records, 'import', 'discovery'))} beyond import equinox; "
                f"paired processes: {_spread(dummy_paired.differences, '+')}",
                "",
                None,
                f"{pairs_of(pairs)} of processes; {ms(extra / DUMMIES)} a plugin",
            )
        )
    return rows
