"""What a run leaves in its folder: metrics.json, reconstruction.h5 and reconstruction.png.

Each file is written next to its place, flushed to the disk and moved there when complete, so
an interrupted or killed run never leaves a half-written file in its place.
"""

import json
import os
import pathlib
import platform

import numpy as np

from ._units import LENGTH_NAMES, LENGTH_UNITS

METRICS = "metrics.json"
ARRAYS = "reconstruction.h5"
FIGURE = "reconstruction.png"
SLICES = "reconstruction_slices.png"


def write_outputs(out: pathlib.Path, result) -> None:
    """Write the three files for `result` into `out`."""
    _atomic(out / ARRAYS, lambda path: write_arrays(path, result))
    _atomic(out / FIGURE, lambda path: _figure(path, result))
    if result.object.ndim == 3:
        _atomic(out / SLICES, lambda path: _slices_figure(path, result))
    text = json.dumps(metrics(result), indent=2) + "\n"
    _atomic(out / METRICS, lambda path: path.write_text(text))


def metrics(result) -> dict:
    """The run's settings and figures of merit, as plain data; `devices` in all, over
    `processes`, `frames_per_process` (what each read from the file), `peak_rss_mb`
    (every process's, in process order) and `memory_need_mb` (a device's, as worked out before
    the run)."""
    from importlib.metadata import PackageNotFoundError, version

    import jax

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    device = jax.devices()[0]
    config = result.config
    return {
        "settings": config.settings(),
        "epochs": len(result.epoch_loss),
        "epoch_loss": result.epoch_loss,
        "epoch_deviance": result.epoch_deviance,
        "epoch_seconds": result.epoch_seconds,
        "epoch_noise_floor": result.epoch_noise_floor,
        "final_deviance": result.final_deviance,
        "noise_floor": result.noise_floor,
        "noise_floor_spread": result.noise_floor_spread,
        "stopped_at_noise_floor": result.stopped_at_noise_floor,
        "median_epoch_seconds": float(np.median(result.epoch_seconds))
        if result.epoch_seconds
        else None,
        "frames": len(result.positions),
        "object_shape": list(result.object.shape),
        "probe_modes": int(result.probe.shape[0]),
        "per_position_probes": result.probes is not None,
        "object_pixel_m": list(result.geometry.pixel),
        "propagation": result.geometry.propagation,
        "magnification": result.geometry.magnification,
        "position_change_px_rms": float(
            np.sqrt(np.mean(np.sum((result.positions - result.initial_positions) ** 2, axis=1)))
        ),
        "positions_outside_object": result.outside,
        "devices": result.devices,
        "processes": result.processes,
        "frames_per_process": list(result.frames_per_process),
        "peak_rss_mb": list(result.peak_rss_mb),
        "memory_need_mb": result.memory_need_mb,
        "frames_dtype": result.frames_dtype,
        "platform": device.platform,
        "device_kind": device.device_kind,
        "versions": {
            name: installed(name)
            for name in ("ptyrax-core", "ptyrax-reconstruct", "jax", "jaxlib", "equinox", "optax")
        }
        | {"python": platform.python_version()},
    }


def slice_spacing(result) -> float | None:
    """The spacing between slices in metres: refined where the model has a `slice_spacing`
    (a multiple of the configured one), else the configured; None for a thin object."""
    if result.config.slices == 1:
        return None
    made = result.model.get("slice_spacing")
    factor = 1.0 if made is None else float(np.asarray(made()).reshape(()))
    return result.config.slice_spacing * factor


def write_arrays(path: pathlib.Path, result) -> None:
    """The reconstruction as HDF5: `object`, `probe` (modes first), `translations` (refined,
    metres), `initial_translations`, `positions_px` (the probe's corner on the object),
    `object_pixel_size` (metres, rows and columns), and `background`, `weights` if fitted,
    `probes` (every frame's, `(N, modes, p, q)`) for per-position probes (`probe` is their
    mean then); `slice_spacing` (metres, refined where the model refines it) for a
    multislice object; and under
    `coefficients/COMPONENT` the named numbers of any component that has them (its
    `coefficients()`: an aberration probe's C10, C12, ... in its own units)."""
    import h5py

    with h5py.File(path, "w") as f:
        for component, made in result.model.items():
            if callable(getattr(made, "coefficients", None)):
                group = f.create_group(f"coefficients/{component}")
                group.attrs["type"] = type(made).__name__
                for name, value in made.coefficients().items():
                    group[name] = np.asarray(value)
        if result.config.slices > 1:
            f["slice_spacing"] = slice_spacing(result)
        f["object"] = result.object
        f["probe"] = result.probe
        f["translations"] = result.translations
        f["initial_translations"] = result.translations - (
            result.geometry.to_metres(result.positions - result.initial_positions)
        )
        f["positions_px"] = result.positions
        f["object_pixel_size"] = np.asarray(result.geometry.pixel)
        f["wavelength"] = result.geometry.wavelength
        for name in ("background", "weights", "probes"):
            if getattr(result, name) is not None:
                f[name] = getattr(result, name)
        f["epoch_loss"] = np.asarray(result.epoch_loss)
        f.attrs["propagation"] = result.geometry.propagation
        f.attrs["length_unit_of_the_config"] = result.config.length_unit  # the data: metres
        f.attrs["final_deviance"] = result.final_deviance
        f.attrs["noise_floor"] = result.noise_floor
        f.attrs["noise_floor_spread"] = result.noise_floor_spread


def scanned_region(result) -> tuple[slice, slice]:
    """The object pixels the probe centres cover, grown by a quarter probe on every side."""
    p, q = result.probe.shape[1:]
    low = np.floor(result.initial_positions.min(axis=0) + (np.array([p, q]) / 4))
    high = np.ceil(result.initial_positions.max(axis=0) + 3 * np.array([p, q]) / 4)
    low = np.maximum(low, 0).astype(int)
    high = np.minimum(high, result.object.shape[-2:]).astype(int)
    return slice(low[0], high[0]), slice(low[1], high[1])


def _figure(path: pathlib.Path, result) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = scanned_region(result)
    obj = result.object[..., rows, columns]
    if obj.ndim == 3:  # a multislice object: its slices' product, the projected transmission
        obj = np.prod(obj, axis=0)
    obj = obj * np.exp(-1j * np.angle(np.sum(obj)))  # the global phase is arbitrary
    unit = getattr(result.config, "length_unit", "m")
    unit = "um" if unit in ("m", "mm") else unit  # a sample's pixel is not metres wide
    pixel = result.geometry.pixel[1] / LENGTH_UNITS[unit]
    name = LENGTH_NAMES[unit]
    fig, axes = plt.subplots(2, 3, figsize=(13, 8.5))
    amplitude = np.abs(obj)
    flat = np.ptp(amplitude) <= 1e-4 * max(float(amplitude.max()), 1e-30)  # a phase object
    second = (  # nothing to see in a flat amplitude: the probe's aperture instead
        (np.log10(1 + np.abs(np.fft.fftshift(np.fft.fft2(result.probe[0]))) ** 2),
         "probe in reciprocal space, log10(1 + |FFT|^2)", "magma")
        if flat else (amplitude, "object amplitude", "gray")
    )  # fmt: skip
    panels = [
        (axes[0, 0], np.angle(obj), "object phase (rad)", "gray"),
        (axes[0, 1], *second),
        (axes[1, 0], np.abs(result.probe[0]), "probe amplitude (mode 1)", "viridis"),
        (axes[1, 1], np.angle(result.probe[0]), "probe phase (mode 1, rad)", "twilight"),
    ]
    for ax, image, title, cmap in panels:
        h, w = image.shape  # the colour scale from the central half, the best-lit part
        low, high = np.percentile(image[h // 4 : h - h // 4, w // 4 : w - w // 4], [0.5, 99.5])
        shown = ax.imshow(image, cmap=cmap, vmin=low, vmax=high)
        ax.set_title(title)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, fraction=0.046)
    for ax, width in ((axes[0, 0], obj.shape[1]), (axes[0, 1], obj.shape[1]))[: 2 - flat]:
        _scale_bar(ax, width, pixel, name)
    _scale_bar(axes[1, 0], result.probe.shape[2], pixel, name)
    loss = axes[0, 2]
    epochs = np.arange(1, len(result.epoch_deviance) + 1)
    loss.plot(epochs, result.epoch_deviance, label="reduced Poisson deviance")
    if len(result.epoch_noise_floor) == len(epochs):
        loss.plot(epochs, result.epoch_noise_floor, "k--", lw=1, label="noise floor")
    else:  # computed at the end only
        loss.axhline(result.noise_floor, color="k", ls="--", lw=1, label="noise floor (final)")
    loss.set_yscale("log")
    loss.set_xlabel("epoch")
    loss.legend(loc="lower left", fontsize=8)
    loss.set_title(
        f"deviance {result.final_deviance:.3g}; noise floor {result.noise_floor:.3g} "
        f"\u00b1 {result.noise_floor_spread:.2g}"
    )
    numbers = [
        f"{component} {k} = {float(v):.4g}"
        for component, made in result.model.items()
        if callable(getattr(made, "coefficients", None))
        for k, v in made.coefficients().items()
        if float(v) != 0.0
    ]
    if "slice_spacing" in result.model:
        unit = result.config.length_unit
        numbers.append(f"slice spacing = {slice_spacing(result) / LENGTH_UNITS[unit]:.4g} {unit}")
    if numbers:  # a probe from its optics: the refined aberrations, a refined spacing
        loss.text(0.97, 0.95, "\n".join(numbers), transform=loss.transAxes, ha="right",
                  va="top", fontsize=8, family="monospace")  # fmt: skip
    moved = axes[1, 2]
    moved.scatter(*result.initial_positions[:, ::-1].T, s=6, label="initial")
    moved.scatter(*result.positions[:, ::-1].T, s=6, label="refined")
    moved.invert_yaxis()
    moved.set_aspect("equal")
    moved.set_title("probe positions (px)")
    moved.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90, format="png")
    plt.close(fig)


def _slices_figure(path: pathlib.Path, result) -> None:
    """A montage of a multislice object's slices: each one's phase over the scanned area, on
    one colour scale, with its depth."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows, columns = scanned_region(result)
    phases = np.angle(result.object[:, rows, columns])
    unit = result.config.length_unit
    unit = "um" if unit in ("m", "mm") else unit
    spacing = slice_spacing(result) / LENGTH_UNITS[unit]
    count = len(phases)
    across = int(np.ceil(np.sqrt(count)))
    down = int(np.ceil(count / across))
    fig, axes = plt.subplots(down, across, figsize=(3.2 * across, 3.2 * down), squeeze=False)
    low, high = np.percentile(phases, [0.5, 99.5])
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < count:
            ax.imshow(phases[k], cmap="gray", vmin=low, vmax=high)
            ax.set_title(f"slice {k + 1}: z = {k * spacing:.4g} {LENGTH_NAMES[unit]}")
    fig.suptitle(f"phase of each slice (rad, {low:.3g} to {high:.3g})")
    fig.tight_layout()
    fig.savefig(path, dpi=80, format="png")
    plt.close(fig)


def _scale_bar(ax, width_px: int, pixel: float, unit: str) -> None:
    """A bar of a round length (`pixel` is a pixel's width in `unit`), about a fifth of the
    image wide."""
    target = width_px * pixel / 5
    length = max(
        (c * 10.0**e for e in range(-3, 4) for c in (1, 2, 5) if c * 10.0**e <= target),
        default=target,
    )
    pixels = length / pixel
    y, x = ax.get_ylim()[0] * 0.95, width_px * 0.05
    ax.plot([x, x + pixels], [y, y], color="gold", linewidth=4)
    ax.text(x + pixels / 2, y * 0.97, f"{length:g} {unit}", color="gold", ha="center", va="bottom")


def _atomic(path: pathlib.Path, write) -> None:
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        write(part)
        with open(part, "rb") as f:  # on the disk before it takes the name
            os.fsync(f.fileno())
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def remove_leftovers(out: pathlib.Path) -> list[pathlib.Path]:
    """Remove what a killed run left half-written in `out` (`.NAME.PID.part` files of the
    outputs, `.checkpoint.ptyrax.HEX.tmp`): the files themselves are always whole."""
    names = [f".{name}.*.part" for name in (METRICS, ARRAYS, FIGURE, SLICES)]
    names.append(".checkpoint.ptyrax.*.tmp")
    gone = [p for pattern in names for p in out.glob(pattern)]
    for p in gone:
        p.unlink(missing_ok=True)
    return gone
