"""The probe against abTEM's `Probe` (run by the tox env `plugin-aberrations-abtem`, which
installs abTEM: no test here is ever skipped).

Same energy, semi-angle, grid and sampling, and the aberrations under abTEM's names: its
`defocus` is `-C10`, its `Cs` is `C30`. abTEM computes in float64 here (the reference); both
use the same soft aperture (one angular pixel wide), and abTEM's probe, built at no scan
position, is centred at `(rows // 2, columns // 2)` like ours and normalized to
`sum |psi|**2 = 1 / (rows * columns)`; we compare at unit power.

Tolerances: by Parseval, the largest error of a unit-power probe is at most the 2-norm of its
spectrum's error: the phase error of `chi` (a few roundings of its largest value in the
aperture, `chi_max` radians) plus the FFT's rounding (about `log2(N)` roundings, `N` pixels).
So `|psi - psi_abtem| <= rounding_tolerance(dtype, terms=chi_max + log2(N) + 4)` (8 ulps a
term): for float32, `8 * eps32 * (chi_max + 16)`, about 2e-5 for `chi_max` = 10. The aperture
edges are the same formula; where they were not (abTEM's edge in float32), a pixel on the edge
would differ by `eps * alpha / width`, inside that bound. The intensity then agrees to
`2 |psi|max` times that, and the phase, where `|psi|` is at least a tenth of its largest
value, to that bound over `|psi|` (radians).
"""

import math

import abtem
import jax
import numpy as np
import pytest
from ptyrax_aberrations import AberrationProbeArrayParametrization as Probe

from ptyrax_core.testing import rounding_tolerance

abtem.config.set({"device": "cpu", "precision": "float64"})

ENERGY = 200e3

CASES = {
    "focus": {},
    "defocus": {"defocus": 80.0},
    "overfocus": {"defocus": -120.0},
    "astigmatism": {"defocus": 30.0, "C12": 25.0, "phi12": 0.6},
    "spherical": {"Cs": 3e5},
    "all": {"defocus": -60.0, "C12": 15.0, "phi12": -1.1, "Cs": 2e5},
    "coma and trefoil": {"C21": 800.0, "phi21": 0.9, "C23": 600.0, "phi23": -0.4},
}


def ours_from_abtem(aberrations: dict) -> dict:
    """abTEM's names to ours: defocus = -C10, Cs = C30."""
    out = dict(aberrations)
    if "defocus" in out:
        out["C10"] = -out.pop("defocus")
    if "Cs" in out:
        out["C30"] = out.pop("Cs")
    return out


def abtem_probe(gpts, sampling, semiangle, aberrations, soft=True):
    probe = abtem.Probe(
        energy=ENERGY,
        semiangle_cutoff=semiangle,
        gpts=gpts,
        sampling=sampling,
        soft=soft,
        **aberrations,
    )
    psi = np.asarray(probe.build().compute().array, np.complex128)
    return psi / np.sqrt(np.sum(np.abs(psi) ** 2)), probe.wavelength


def chi_max(ours: Probe) -> float:
    return float(np.max(np.abs(np.asarray(ours.aberration_phase(), np.float64))))


def compare(gpts, sampling, semiangle, aberrations, x64=False, softness=None):
    reference, wavelength = abtem_probe(gpts, sampling, semiangle, aberrations, softness is None)
    with jax.enable_x64(x64):
        ours = Probe(
            gpts,
            wavelength * 1e-10,
            tuple(s * 1e-10 for s in sampling),
            semiangle,
            ours_from_abtem(aberrations),
            aperture_softness=softness,
        )
        psi = np.asarray(ours(), np.complex128)
        terms = chi_max(ours) + math.log2(gpts[0] * gpts[1]) + 4
        tol = rounding_tolerance(ours().dtype, terms=terms)
    return psi, reference, tol


def report(name, psi, reference, tol):
    error = np.max(np.abs(psi - reference))
    big = np.abs(reference) >= 0.1 * np.max(np.abs(reference))
    phase = np.max(np.abs(np.angle(psi[big] * np.conj(reference[big]))))
    intensity = np.max(np.abs(np.abs(psi) ** 2 - np.abs(reference) ** 2))
    print(f"{name}: max|dpsi| {error:.2e} (bound {tol:.2e}), max|dI| {intensity:.2e}, "
          f"max|dphase| {phase:.2e} rad")  # fmt: skip
    return error, intensity, phase


@pytest.mark.parametrize("case", CASES)
def test_float32_probe_agrees_with_abtem(case):
    gpts, sampling = (64, 64), (0.2, 0.2)
    psi, reference, tol = compare(gpts, sampling, 21.4, CASES[case])
    error, intensity, phase = report(case, psi, reference, tol)
    assert error <= tol
    assert intensity <= 2 * np.max(np.abs(reference)) * tol
    assert phase <= tol / (0.1 * np.max(np.abs(reference)))


@pytest.mark.parametrize("case", ["all", "coma and trefoil"])
def test_a_rectangular_grid_and_pixel_keep_abtem_axes(case):
    """x along rows (abTEM's first axis), phi from x towards y: the angles agree as given."""
    psi, reference, tol = compare((48, 80), (0.25, 0.15), 24.0, CASES[case])
    error, _, _ = report(f"{case}, 48 x 80", psi, reference, tol)
    assert error <= tol


def test_float64_probe_is_abtem_to_rounding():
    """In float64 the two agree to float64 rounding: the same formula, term by term."""
    psi, reference, tol = compare((64, 64), (0.2, 0.2), 21.4, CASES["all"], x64=True)
    error, _, _ = report("all, float64", psi, reference, tol)
    assert error <= tol < 1e-12


def test_hard_aperture_is_abtems_hard_aperture():
    psi, reference, tol = compare((64, 64), (0.2, 0.2), 21.4, CASES["all"], softness=0.0)
    assert np.max(np.abs(psi - reference)) <= tol


@pytest.mark.parametrize("defocus", [50.0, -50.0, 150.0])
def test_abtem_defocus_is_minus_c10(defocus):
    """abTEM's defocus d is our C10 = -d; our C10 = +d is another probe entirely."""
    reference, wavelength = abtem_probe((64, 64), (0.2, 0.2), 21.4, {"defocus": defocus})
    same = Probe((64, 64), wavelength * 1e-10, 0.2e-10, 21.4, {"C10": -defocus})
    flipped = Probe((64, 64), wavelength * 1e-10, 0.2e-10, 21.4, {"C10": defocus})
    tol = rounding_tolerance(np.float32, terms=chi_max(same) + math.log2(64 * 64) + 4)
    assert np.max(np.abs(np.asarray(same()) - reference)) <= tol
    assert np.max(np.abs(np.asarray(flipped()) - reference)) > 1000 * tol
    aberrations = abtem.transfer.Aberrations(energy=ENERGY, defocus=defocus)
    assert aberrations.C10 == -defocus
