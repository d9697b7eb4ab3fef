"""The config of a reconstruction: read from TOML (or given as a dict), checked key by key.

Every table and key is listed in `SCHEMA`; an unknown key is an error that names its path
and the valid keys. Paths in a config file are relative to the file's folder.
"""

import dataclasses
import difflib
import os
import pathlib
import tomllib
from typing import Any

from ._errors import ReconstructError
from ._geometry import PROPAGATIONS
from ._loss import LOSSES
from ._penalties import PARTS, PenaltySpec
from ._units import LENGTH_UNITS

COMPONENTS = ("object", "probe", "positions", "weights", "background", "slice_spacing")
"""The parts of a model; `weights` (one intensity factor per frame), `background` and
`slice_spacing` (a multislice object's spacing, refined as a multiple of
`geometry.slice_spacing`) are optional: a model has them when the config has their tables."""

DEFAULT_LOSS = "amplitude"
"""The loss a config without `loss.kind` fits. Benchmark l (simulated scans with a known truth,
far and near field, 10^2 to 10^5 photons a frame, cdtools' schedule): the amplitude loss ended
closer to the true phase than the Poisson one in all 9 cases where any run recovered the
object, by up to 2.7 times (far field, 10^5 photons, 50 % overlap: 0.036 against 0.097 rad);
the Poisson one fits photon noise at low doses (its deviance ends below the truth's)."""

MAX_EPOCHS = 1_000_000
"""A stage's most epochs: more is a typing slip, not a run (a million epochs of the shipped
scan take a day)."""

DEFAULT_TYPES = {
    "object": "direct",
    "probe": "direct",
    "positions": "index_slice",
    "weights": "index_slice",
    "background": "non_negative",
    "slice_spacing": "non_negative",
}
"""The registry name each component is built with when its table gives no `type`."""


@dataclasses.dataclass(frozen=True)
class Stage:
    """A run of epochs at one learning rate and batch size."""

    epochs: int
    learning_rate: float
    batch_size: int


@dataclasses.dataclass(frozen=True)
class Config:
    """A reconstruction, as the config file describes it (see the config reference).

    Attributes:
        data: the data file (None where the scan is given in memory).
        reader: the registry name of the reader that reads it (None: by its name ending).
        reader_arguments: the reader's own arguments (the `[data]` table's other keys).
        propagation: `"near_field"` or `"far_field"`.
        focus_to_sample: metres, for Fresnel scaling in the near field; None for a plane wave.
        padding: object pixels beyond the scanned area on every side.
        slices: the object's slices (a multislice object for thick samples: a stack of the
            object's parametrization, one member per slice).
        slice_spacing: metres between slices (required with more than one).
        probe_modes: incoherent probe modes.
        model: component -> its spec for `ptyrax_core.build` (`type` and arguments).
        loss: `"amplitude"` (the default, `DEFAULT_LOSS`) or `"poisson"`.
        penalties: the terms added to the loss (`[[loss.penalties]]`).
        stages: the schedule.
        rate_scale: component -> factor on every stage's learning rate (0 freezes it).
        start_epoch: component -> the epoch from which it is trained.
        seed: the shuffling seed.
        checkpoint_every: epochs between checkpoints (0: only at the end).
        stop_at_noise_floor: end the fit after the first epoch whose deviance is at or below
            its noise floor (the discrepancy principle).
        base_dir: the folder relative paths in the model specs start from.
        length_unit: the unit of the config's lengths (`length_unit = "A"` at its top: the
            data table's wavelength, distance, pixel size and scan step, the geometry's
            distances) and of the picture's scale bars; they are held here in metres, and
            `reconstruction.h5` is in metres whatever it is.
    """

    data: pathlib.Path | None
    reader: str | None = None
    reader_arguments: dict[str, Any] = dataclasses.field(default_factory=dict)
    propagation: str = "near_field"
    focus_to_sample: float | None = None
    padding: int = 10
    slices: int = 1
    slice_spacing: float | None = None
    probe_modes: int = 1
    model: dict[str, dict] = dataclasses.field(default_factory=dict)
    loss: str = "amplitude"
    penalties: tuple[PenaltySpec, ...] = ()
    stages: tuple[Stage, ...] = (Stage(100, 0.04, 10),)
    rate_scale: dict[str, float] = dataclasses.field(default_factory=dict)
    start_epoch: dict[str, int] = dataclasses.field(default_factory=dict)
    seed: int = 0
    checkpoint_every: int = 0
    stop_at_noise_floor: bool = False
    base_dir: pathlib.Path = pathlib.Path(".")
    length_unit: str = "m"

    @property
    def epochs(self) -> int:
        return sum(s.epochs for s in self.stages)

    def stage_at(self, epoch: int) -> Stage:
        """The stage that epoch `epoch` (from 0) belongs to."""
        for stage in self.stages:
            if epoch < stage.epochs:
                return stage
            epoch -= stage.epochs
        raise IndexError(epoch)

    def rates(self, epoch: int) -> dict[str, float]:
        """Each component's learning rate at `epoch`."""
        lr = self.stage_at(epoch).learning_rate
        return {
            c: lr * self.rate_scale.get(c, 1.0) * (epoch >= self.start_epoch.get(c, 0))
            for c in self.model
        }

    def settings(self) -> dict[str, Any]:
        """The config as plain data (for metrics.json and checkpoints)."""
        out = dataclasses.asdict(self)
        out["data"] = None if self.data is None else str(self.data)
        out["base_dir"] = str(self.base_dir)
        return out


# table -> {key: type}; "*" allows any other key (a penalty's own arguments). A table with
# no entry of its own (a component's spec) is not checked here.
SCHEMA: dict[str, dict[str, Any]] = {
    "": {
        "length_unit": str,
        "data": dict,
        "geometry": dict,
        "model": dict,
        "loss": dict,
        "fit": dict,
    },
    "data": {"file": str, "reader": str, "*": None},
    "geometry": {
        "propagation": str,
        "focus_to_sample": float,
        "padding": int,
        "slices": int,
        "slice_spacing": float,
    },
    "model": {"probe_modes": int, **{c: dict for c in COMPONENTS}},
    "loss": {"kind": str, "penalties": list},
    "loss.penalties[]": {"type": str, "component": str, "on": str, "weight": float, "*": None},
    "fit": {
        "seed": int,
        "checkpoint_every": int,
        "stop_at_noise_floor": bool,
        "stages": list,
        "rate_scale": dict,
        "start_epoch": dict,
    },
    "fit.stages[]": {"epochs": int, "learning_rate": float, "batch_size": int},
    "fit.rate_scale": {c: float for c in COMPONENTS},
    "fit.start_epoch": {c: int for c in COMPONENTS},
}


def load_config(
    source: str | os.PathLike | dict, base_dir: str | os.PathLike | None = None
) -> Config:
    """Read and check a config: a `.toml` file, or a dict of the same shape.

    Relative paths start from the file's folder (for a dict: `base_dir`, default the working
    directory).

    Raises:
        ReconstructError: the file cannot be read, a key is unknown (its path and the valid
            keys are named), missing or of the wrong type, or a value is out of range.
    """
    if isinstance(source, dict):
        raw, base = source, pathlib.Path(base_dir or ".")
    else:
        path = pathlib.Path(source)
        try:
            raw = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ReconstructError(f"{path}: no such config file") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ReconstructError(f"{path}: cannot read the config ({e})") from None
        except tomllib.TOMLDecodeError as e:
            raise ReconstructError(f"{path}: not valid TOML ({e})") from None
        base = path.parent if base_dir is None else pathlib.Path(base_dir)
    _check_table(raw, "")
    data = raw.get("data", {})
    if "file" not in data:
        raise ReconstructError("config: data.file is required: the file to reconstruct")
    geometry = raw.get("geometry", {})
    model_table = raw.get("model", {})
    fit = raw.get("fit", {})
    propagation = _choice(
        geometry.get("propagation", "near_field"), PROPAGATIONS, "geometry.propagation"
    )
    unit = _choice(raw.get("length_unit", "m"), tuple(LENGTH_UNITS), "length_unit")
    focus = geometry.get("focus_to_sample")
    if focus is not None:
        focus = _positive(focus, "geometry.focus_to_sample") * LENGTH_UNITS[unit]
        if propagation != "near_field":
            raise ReconstructError(
                "config: geometry.focus_to_sample applies to the near field only"
            )
    slices = _at_least(geometry.get("slices", 1), 1, "geometry.slices")
    spacing = geometry.get("slice_spacing")
    if spacing is not None:
        spacing = _positive(spacing, "geometry.slice_spacing") * LENGTH_UNITS[unit]
    if slices > 1 and spacing is None:
        raise ReconstructError(
            f"config: geometry.slice_spacing ({unit}) is required with geometry.slices = {slices}"
        )
    model = {}
    for c in COMPONENTS:
        if c in model_table or c in ("object", "probe", "positions"):
            spec = dict(model_table.get(c, {}))
            spec.setdefault("type", DEFAULT_TYPES[c])
            if not isinstance(spec["type"], str):
                raise ReconstructError(f"config: model.{c}.type must be a registry name (a string)")
            model[c] = spec
    if "slice_spacing" in model and slices == 1:
        raise ReconstructError(
            "config: model.slice_spacing refines the spacing between slices: it needs "
            "geometry.slices of 2 or more"
        )
    stages = tuple(
        Stage(
            epochs=_at_most(
                _at_least(s.get("epochs", 1), 1, f"fit.stages[{i}].epochs"),
                MAX_EPOCHS,
                f"fit.stages[{i}].epochs",
            ),
            learning_rate=_non_negative(
                s.get("learning_rate", 0.04), f"fit.stages[{i}].learning_rate"
            ),
            batch_size=_at_least(s.get("batch_size", 10), 1, f"fit.stages[{i}].batch_size"),
        )
        for i, s in enumerate(fit.get("stages", [{}]))
    )
    if not stages:
        raise ReconstructError("config: fit.stages must hold at least one stage")
    for table in ("rate_scale", "start_epoch"):
        for c in fit.get(table, {}):
            if c not in model:
                raise ReconstructError(
                    f"config: fit.{table}.{c}: the model has no {c} (add [model.{c}])"
                )
    return Config(
        data=base / data["file"],
        reader=data.get("reader"),
        reader_arguments={k: v for k, v in data.items() if k not in ("file", "reader")},
        propagation=propagation,
        focus_to_sample=focus,
        padding=_at_least(geometry.get("padding", 10), 0, "geometry.padding"),
        slices=slices,
        slice_spacing=spacing,
        probe_modes=_at_least(model_table.get("probe_modes", 1), 1, "model.probe_modes"),
        model=model,
        loss=_choice(raw.get("loss", {}).get("kind", DEFAULT_LOSS), LOSSES, "loss.kind"),
        penalties=tuple(
            _penalty(p, f"loss.penalties[{i}]")
            for i, p in enumerate(raw.get("loss", {}).get("penalties", []))
        ),
        stages=stages,
        rate_scale={
            c: _non_negative(v, f"fit.rate_scale.{c}") for c, v in fit.get("rate_scale", {}).items()
        },
        start_epoch={
            c: _at_least(v, 0, f"fit.start_epoch.{c}")
            for c, v in fit.get("start_epoch", {}).items()
        },
        seed=_at_least(fit.get("seed", 0), 0, "fit.seed"),
        checkpoint_every=_at_least(fit.get("checkpoint_every", 0), 0, "fit.checkpoint_every"),
        stop_at_noise_floor=fit.get("stop_at_noise_floor", False),
        base_dir=base,
        length_unit=unit,
    )


def _penalty(table: dict, where: str) -> PenaltySpec:
    """A `[[loss.penalties]]` table as a spec: `type`, `component` and `weight` required."""
    for key in ("type", "component", "weight"):
        if key not in table:
            raise ReconstructError(
                f"config: {where}.{key} is required (type: a penalty's registry name, "
                "component: what it acts on, weight: its factor in the loss)"
            )
    fixed = ("type", "component", "on", "weight")
    return PenaltySpec(
        type=table["type"],
        component=table["component"],
        on=_choice(table.get("on", "value"), tuple(PARTS), f"{where}.on"),
        weight=_non_negative(table["weight"], f"{where}.weight"),
        arguments={k: v for k, v in table.items() if k not in fixed},
    )


def _check_table(table: dict, where: str, shown: str | None = None) -> None:
    """Check `table` against `SCHEMA[where]`; `shown` is its path in messages."""
    schema, shown = SCHEMA[where], where if shown is None else shown
    for key, value in table.items():
        path = f"{shown}.{key}" if shown else key
        if key not in schema and "*" in schema:
            continue
        if key not in schema:
            close = difflib.get_close_matches(key, schema, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ReconstructError(
                f"config: unknown key {path!r}{hint}; valid keys in "
                f"{'[' + shown + ']' if shown else 'the top level'}: {', '.join(schema)}"
            )
        expected = schema[key]
        if not _is(value, expected):
            raise ReconstructError(
                f"config: {path} must be {_kind(expected)}; got {type(value).__name__} {value!r}"
            )
        inner = f"{where}.{key}" if where else key
        if expected is dict and inner in SCHEMA:
            _check_table(value, inner, path)
        elif expected is list:
            for i, item in enumerate(value):
                if not isinstance(item, dict):
                    raise ReconstructError(f"config: {path}[{i}] must be a table")
                _check_table(item, f"{inner}[]", f"{path}[{i}]")


def _is(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is bool:
        return isinstance(value, bool)
    return isinstance(value, expected)


def _kind(expected: type) -> str:
    return {
        dict: "a table",
        list: "a list of tables",
        str: "a string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
    }[expected]


def _choice(value: str, choices: tuple[str, ...], where: str) -> str:
    if value not in choices:
        raise ReconstructError(f"config: {where} must be one of {list(choices)}; got {value!r}")
    return value


def _positive(value: float, where: str) -> float:
    if not (value > 0 and value < float("inf")):
        raise ReconstructError(f"config: {where} must be a positive number; got {value!r}")
    return float(value)


def _non_negative(value: float, where: str) -> float:
    if not (value >= 0 and value < float("inf")):
        raise ReconstructError(f"config: {where} must be a non-negative number; got {value!r}")
    return float(value)


def _at_most(value: int, high: int, where: str) -> int:
    if value > high:
        raise ReconstructError(f"config: {where} must be at most {high}; got {value!r}")
    return value


def _at_least(value: int, low: int, where: str) -> int:
    if value < low:
        raise ReconstructError(f"config: {where} must be at least {low}; got {value!r}")
    return int(value)
