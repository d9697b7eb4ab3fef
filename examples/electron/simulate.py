"""Simulate with abTEM a 4D-STEM ptychography scan whose truth is known, in a file that
`ptyrax reconstruct` reads.

The sample is SrTiO3 seen along [001] (a = 3.905 A), a few unit cells thick, with one Sr
column emptied (a column vacancy; `vacancy` is the fraction of its atoms removed) off the
scan's diagonals, so that a transposed or mirrored reconstruction cannot match the truth.
The probe has abTEM's defocus and, where asked, a two-fold astigmatism. abTEM 1.0.11 computes
the exit waves (its multislice, Lobato potentials, infinite projection, frozen phonons as
independent Gaussian displacements) on a grid of pixel `sampling`; each frame is the exit
wave cut to the `window x window` pixels around its probe and turned into a diffraction
pattern by abTEM (`Waves.diffraction_patterns`, which is `fftshift(|fft2(psi)|**2)`), the
intensities of the frozen-phonon configurations averaged, then Poisson noise drawn at the
stated dose.

    python examples/electron/simulate.py --small --out /tmp/sto-small.h5   # seconds
    python examples/electron/simulate.py --out /tmp/sto.h5                 # a few minutes

The default is the benchmark's scan: 1600 patterns of 64 x 64 (a 40 x 40 raster), a
crystal of 5 cells (19.5 A) in 10 slices, 4 frozen-phonon configurations, 1e5 electrons per
A^2. `--small`: a 16 x 16 raster over a crystal of 2 cells (7.8 A) computed as one slice and
without phonons, so that the engine's single-slice model is exact and only the shot noise
(and the probe's tail beyond the window) stands between a reconstruction and the truth.
An existing file made with the same settings is kept (a cache); `--force` remakes it.

The file (HDF5, read by ptyrax's `hdf5` reader; attributes hold the calibration):

- `frames`: `(scan rows, scan columns, window, window)` float32 counts.
- `mask`: `(window, window)` uint8, 1 beyond the detected angle (abTEM's anti-aliasing
  limit, 2/3 of the Nyquist frequency, less two pixels): no data there.
- `truth/phase`: `(G, G)` float32, the projected phase `sigma * V` summed over the slices
  (mean of the phonon configurations), radians, on the reconstruction's sampling.
- `truth/slice_phase`: `(slices, G, G)`, the same per abTEM slice.
- `truth/probe`: `(window, window)` complex64, abTEM's probe cut to the window (unit power
  over the whole grid).
- `truth/corners`: `(frames, 2)`, each frame's window's top-left corner in the pixels of
  `truth/phase` (rows, columns).
- `truth/intensities`: like `frames`, the expected counts (no noise).

Conventions (checked by `tests/electron/test_abtem_scan.py`): abTEM's `x` is the arrays'
axis 0. Scan axis 0 (`frames`' first axis) steps along x, like the object's rows, and a
pattern's axis 0 is `k_x`; abTEM's forward FFT is numpy's `fft2`, the engine's far field.
So the engine reads the file with `scan_step` alone: no `detector_transpose`, no
`detector_flip`, no `scan_rotation`. abTEM's `defocus` is `-C10`.
"""

import argparse
import dataclasses
import json
import math
import pathlib
import sys
import time

import numpy as np

A_STO = 3.905  # Angstrom


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a dataset is made from. Lengths in Angstrom, angles in mrad, energy in keV."""

    energy: float = 200.0  # keV
    convergence: float = 21.4  # mrad, the probe's semi-angle
    defocus: float = 60.0  # abTEM's defocus (A): C10 = -60 A, underfocus
    astigmatism: float = 0.0  # C12 (A), two-fold astigmatism
    astigmatism_angle: float = 0.0  # phi12 (rad)
    sampling: float = A_STO / 20  # A (0.19525): 20 pixels a unit cell, the same in every mode
    window: int = 64  # pattern and probe window, pixels
    step: int = 4  # scan step, pixels of the grid
    scan: tuple[int, int] = (40, 40)
    cells: int = 5  # crystal thickness, unit cells along [001]
    slice_thickness: float = A_STO / 2  # A, abTEM's slices
    phonons: int = 4  # frozen-phonon configurations (0: the atoms at rest)
    sigma: float = 0.08  # A, the displacement's standard deviation, each axis
    dose: float = 1e5  # electrons per A^2
    vacancy: float = 1.0  # the fraction of the defect column's Sr atoms removed
    seed: int = 0

    @classmethod
    def small(cls) -> "Settings":
        return cls(scan=(16, 16), cells=2, slice_thickness=2 * A_STO, phonons=0, dose=2e3)


def wavelength(energy_kev: float) -> float:
    """The relativistic electron wavelength in Angstrom."""
    h, m0, e, c = 6.62607015e-34, 9.1093837015e-31, 1.602176634e-19, 299792458.0
    v = energy_kev * 1e3
    return h / math.sqrt(2 * m0 * e * v * (1 + e * v / (2 * m0 * c**2))) * 1e10


def crystal(s: Settings):
    """SrTiO3 [001], enough cells across for the scan and a window's margin, `s.cells` thick,
    the fraction `s.vacancy` (rounded up) of one Sr column's atoms removed. Returns the
    atoms and the column's (x, y)."""
    import ase

    span = ((max(s.scan) - 1) * s.step + s.window + 8) * s.sampling
    n = math.ceil(span / A_STO)
    cell = ase.Atoms(
        "SrTiO3",
        scaled_positions=[(0, 0, 0), (0.5, 0.5, 0.5), (0.5, 0.5, 0), (0.5, 0, 0.5), (0, 0.5, 0.5)],
        cell=[A_STO] * 3,
        pbc=True,
    )
    atoms = cell * (n, n, s.cells)
    # a Sr column next to the scan's centre, off both diagonals of the scan
    column = np.array([math.ceil(n / 2) - 1, math.ceil(n / 2)]) * A_STO
    sr = np.flatnonzero(
        (atoms.numbers == 38) & np.all(np.abs(atoms.positions[:, :2] - column) < 0.1, axis=1)
    )
    remove = sr[np.argsort(atoms.positions[sr, 2])][: math.ceil(s.vacancy * len(sr))]
    del atoms[remove.tolist()]
    return atoms, column


def simulate(s: Settings, out: pathlib.Path, progress: bool = True) -> pathlib.Path:
    """Make the dataset of `s` at `out` (HDF5) and return `out`."""
    import abtem
    import h5py
    from abtem.core.axes import UnknownAxis
    from abtem.core.energy import energy2sigma

    abtem.config.set({"device": "cpu", "precision": "float32"})
    t0 = time.perf_counter()
    rng = np.random.default_rng(s.seed)
    atoms, column = crystal(s)
    energy = s.energy * 1e3
    thickness = s.cells * A_STO
    grid = round(atoms.cell[0, 0] / s.sampling)  # a whole number of pixels across the cell
    potential = abtem.Potential(
        atoms, gpts=grid, slice_thickness=s.slice_thickness, projection="infinite"
    )
    dx = potential.sampling[0]
    probe = abtem.Probe(
        energy=energy, semiangle_cutoff=s.convergence, defocus=s.defocus,
        C12=s.astigmatism, phi12=s.astigmatism_angle,
    )  # fmt: skip
    probe.grid.match(potential)
    rows, cols = s.scan
    half = s.window // 2
    first = (grid - (np.array(s.scan) - 1) * s.step) // 2  # the scan centred in the cell
    centres = np.stack(
        np.meshgrid(first[0] + s.step * np.arange(rows), first[1] + s.step * np.arange(cols),
                    indexing="ij"),
        axis=-1,
    ).reshape(-1, 2)  # fmt: skip
    corners = centres - half  # the windows' top-left corners: the probe at (half, half)
    window = np.arange(s.window) - half

    configs = [atoms]
    if s.phonons:
        configs = []
        for _ in range(s.phonons):
            moved = atoms.copy()
            moved.positions += rng.normal(0.0, s.sigma, moved.positions.shape)
            moved.wrap()
            configs.append(moved)
    sigma_v = energy2sigma(energy)  # rad / (V A): the transmission is exp(i sigma V)
    intensity = np.zeros((rows * cols, s.window, s.window))
    slice_phase = None
    for k, config in enumerate(configs):
        pot = abtem.Potential(
            config, gpts=grid, slice_thickness=s.slice_thickness, projection="infinite"
        ).build(lazy=False)
        phase = sigma_v * np.asarray(pot.array, np.float64)
        slice_phase = phase if slice_phase is None else slice_phase + phase
        for r in range(rows):  # one scan row of exit waves at a time (memory)
            at = centres[r * cols : (r + 1) * cols]
            scan = abtem.CustomScan(at * dx)
            waves = probe.multislice(pot, scan=scan, lazy=False)
            psi = np.asarray(waves.array).reshape(-1, grid, grid)
            cut = np.stack(
                [psi[i][np.ix_((c[0] + window) % grid, (c[1] + window) % grid)]
                 for i, c in enumerate(at)]
            )  # fmt: skip
            cut = cut * grid  # abTEM's probe has sum |psi|^2 = 1 / grid^2: unit power here
            patterns = abtem.Waves(
                cut, energy=energy, sampling=dx, ensemble_axes_metadata=[UnknownAxis()]
            ).diffraction_patterns(max_angle=None, renormalize=False)
            # abTEM's FFT is unnormalized (numpy's): over window^2 pixels, unit power again
            intensity[r * cols : (r + 1) * cols] += np.asarray(patterns.array) / s.window**2
            if progress:
                print(f"\rconfiguration {k + 1}/{len(configs)}, scan row {r + 1}/{rows}",
                      end="", file=sys.stderr, flush=True)  # fmt: skip
    if progress:
        print(file=sys.stderr)
    intensity /= len(configs)
    slice_phase /= len(configs)
    # abTEM band-limits every wave at 2/3 of the Nyquist frequency (anti-aliasing): no
    # electron is recorded beyond; the window's cut spreads that edge by a pixel or two.
    k = (
        np.fft.fftshift(np.fft.fftfreq(s.window))[:, None],
        np.fft.fftshift(np.fft.fftfreq(s.window))[None, :],
    )
    radius = np.hypot(*k) * s.window  # pixels from the centre (window // 2)
    limit = s.window / 2 * 2 / 3 - 2
    mask = (radius > limit).astype(np.uint8)
    step_a = s.step * dx
    per_frame = s.dose * step_a**2  # electrons per frame: the dose over one scan cell
    expected = intensity * per_frame
    counts = rng.poisson(expected).astype(np.float32)
    centre = grid // 2 + window  # abTEM's probe, built at no position, is centred at grid // 2
    probe_window = np.asarray(probe.build(lazy=False).array)[np.ix_(centre, centre)] * grid
    lam = wavelength(s.energy)
    attrs = {
        "settings": json.dumps(dataclasses.asdict(s)),
        "abtem_version": abtem.__version__,
        "energy_keV": s.energy,
        "wavelength_m": lam * 1e-10,
        "pixel_size_m": dx * 1e-10,
        "reciprocal_pixel_per_A": 1 / (s.window * dx),
        "angle_pixel_mrad": 1e3 * lam / (s.window * dx),
        "scan_step_m": step_a * 1e-10,
        "scan_shape": list(s.scan),
        "convergence_angle_mrad": s.convergence,
        "aperture_softness_mrad": 1e3 * lam / (grid * dx),  # abTEM's: one pixel of its grid
        "defocus_abtem_A": s.defocus,
        "C10_A": -s.defocus,
        "C12_A": s.astigmatism,
        "phi12_rad": s.astigmatism_angle,
        "dose_e_per_A2": s.dose,
        "electrons_per_frame": per_frame,
        "detected_angle_mrad": 1e3 * lam * limit / (s.window * dx),
        "thickness_A": thickness,
        "slice_thickness_A": s.slice_thickness,
        "slices": slice_phase.shape[0],
        "phonon_configurations": len(configs) if s.phonons else 0,
        "phonon_sigma_A": s.sigma if s.phonons else 0.0,
        "defect_xy_A": list(column),
        "defect_px": list(column / dx),
        "defect": f"one Sr column with {s.vacancy:.0%} of its atoms (rounded up) removed",
        "grid": grid,
        "seconds": time.perf_counter() - t0,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    with h5py.File(part, "w") as f:
        f.create_dataset("frames", data=counts.reshape(rows, cols, s.window, s.window))
        f.create_dataset("mask", data=mask)
        f.create_dataset("truth/phase", data=slice_phase.sum(axis=0).astype(np.float32))
        f.create_dataset("truth/slice_phase", data=slice_phase.astype(np.float32))
        f.create_dataset("truth/probe", data=probe_window.astype(np.complex64))
        f.create_dataset("truth/corners", data=corners.astype(np.float64))
        f.create_dataset(
            "truth/intensities",
            data=expected.reshape(rows, cols, s.window, s.window).astype(np.float32),
        )
        f.attrs.update(attrs)
    part.replace(out)
    return out


def cached(s: Settings, out: pathlib.Path) -> bool:
    """Whether `out` exists and was made with the settings `s`."""
    if not out.exists():
        return False
    import h5py

    try:
        with h5py.File(out, "r") as f:
            return json.loads(f.attrs["settings"]) == json.loads(json.dumps(dataclasses.asdict(s)))
    except (OSError, KeyError):
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=pathlib.Path, required=True, help="the .h5 file to write")
    parser.add_argument("--small", action="store_true", help="the test's scan (seconds)")
    parser.add_argument("--dose", type=float, help="electrons per A^2")
    parser.add_argument("--phonons", type=int, help="frozen-phonon configurations")
    parser.add_argument("--seed", type=int, help="the noise's and the phonons' seed")
    parser.add_argument("--force", action="store_true", help="remake an existing file")
    args = parser.parse_args(argv)
    s = Settings.small() if args.small else Settings()
    given = {
        k: getattr(args, k) for k in ("dose", "phonons", "seed") if getattr(args, k) is not None
    }
    s = dataclasses.replace(s, **given)
    if not args.force and cached(s, args.out):
        print(f"{args.out}: made with these settings already (--force remakes it)")
        return 0
    simulate(s, args.out)
    print(f"{args.out}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
