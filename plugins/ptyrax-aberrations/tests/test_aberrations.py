import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ptyrax_aberrations import AberrationProbeArrayParametrization as Probe

import ptyrax_core
from ptyrax_core.testing import assert_close, check_parametrization, rounding_tolerance

WAVELENGTH = 2.508e-12  # metres, 200 kV
LAMBDA_A = WAVELENGTH * 1e10  # Angstrom


# --- float64 references, written from the formulas (not from the plugin's code) -----------------


def k_grid(shape, pixel_a):
    """kx (rows), ky (columns) in 1/Angstrom, zero frequency at [0, 0]."""
    kx = np.fft.fftfreq(shape[0], pixel_a[0])[:, None] * np.ones(shape)
    ky = np.fft.fftfreq(shape[1], pixel_a[1])[None, :] * np.ones(shape)
    return kx, ky


def chi_reference(shape, pixel_a, c):
    """Krivanek's polar chi in radians: lengths in Angstrom, angles in radians."""
    kx, ky = k_grid(shape, pixel_a)
    a = LAMBDA_A * np.sqrt(kx**2 + ky**2)
    phi = np.arctan2(ky, kx)
    g = c.get
    return (2 * np.pi / LAMBDA_A) * (
        a**2 / 2 * (g("C10", 0) + g("C12", 0) * np.cos(2 * (phi - g("phi12", 0))))
        + a**3 / 3 * (g("C21", 0) * np.cos(phi - g("phi21", 0)))
        + a**3 / 3 * (g("C23", 0) * np.cos(3 * (phi - g("phi23", 0))))
        + a**4 / 4 * g("C30", 0)
    )


def aperture_reference(shape, pixel_a, alpha_mrad, width_mrad):
    kx, ky = k_grid(shape, pixel_a)
    a = 1e3 * LAMBDA_A * np.sqrt(kx**2 + ky**2)  # mrad
    if np.isscalar(width_mrad) and width_mrad == 0:
        return (a <= alpha_mrad).astype(float)
    return np.clip((alpha_mrad - a) / width_mrad + 0.5, 0, 1)


def probe_reference(aperture, chi):
    """fftshift(ifft2(A exp(-i chi))), unit total power."""
    psi = np.fft.fftshift(np.fft.ifft2(aperture * np.exp(-1j * chi)))
    return psi / np.sqrt(np.sum(np.abs(psi) ** 2))


def probe_tolerance(dtype, edge_phase, n_pixels):
    """Max |error| of a unit-power probe computed in `dtype`: by Parseval, at most the 2-norm
    of the spectrum's error, i.e. the phase error (a few roundings of |chi| <= edge_phase)
    plus the FFT's rounding (about log2(N) per element)."""
    return rounding_tolerance(dtype, terms=edge_phase + math.log2(n_pixels) + 4)


# --- chi, the aperture, the probe ----------------------------------------------------------------

CASES = {
    "C10": {"C10": 80.0},
    "C12": {"C12": 30.0, "phi12": 0.7},
    "C21": {"C21": 900.0, "phi21": -1.1},
    "C23": {"C23": 700.0, "phi23": 2.0},
    "C30": {"C30": 4e5},
    "all": {"C10": -40, "C12": 10, "phi12": -0.3, "C21": 300, "C23": 200, "phi23": 1, "C30": 1e5},
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("trained", [True, False])
def test_chi_against_the_polar_formula(case, trained):
    shape, pixel_a = (24, 32), (0.3, 0.25)
    c = CASES[case]
    p = Probe(
        shape, WAVELENGTH, (pixel_a[0] * 1e-10, pixel_a[1] * 1e-10), 25.0, c,
        trainable=("C10", "C12", "C21", "C23", "C30") if trained else (),
    )  # fmt: skip
    chi = p.aberration_phase()
    assert chi.shape == shape and chi.dtype == jnp.float32
    expected = chi_reference(shape, pixel_a, c)
    inside = aperture_reference(shape, pixel_a, 25.0, 1e-9) > 0  # where the probe has support
    support = np.asarray(p._pupil) != 0
    assert np.array_equal(support, aperture_reference(shape, pixel_a, 25.0, _pixel_mrad(p)) > 0)
    edge = np.max(np.abs(np.where(support, expected, 0)))
    # a sum of up to 8 products, each term's value and basis rounded once: 16 roundings of chi
    assert_close(np.where(support, chi, 0), np.where(support, expected, 0), terms=16, scale=edge)
    assert np.all(np.asarray(chi)[~support] == 0)
    assert inside.sum() > 20
    # and the probe is fftshift(ifft2(A exp(-i chi)))
    aperture = aperture_reference(shape, pixel_a, 25.0, _pixel_mrad(p))
    reference = probe_reference(aperture, expected)
    assert_close(p(), reference, scale=1.0, terms=edge + math.log2(24 * 32) + 4)


def _pixel_mrad(p):
    """abTEM's default edge width: one angular pixel along each direction (mrad)."""
    shape = p.output_shape[-2:]
    pixel_a = np.array(p.pixel_size) * 1e10
    kx, ky = k_grid(shape, pixel_a)
    phi = np.arctan2(ky, kx)
    dax, day = (1e3 * LAMBDA_A / (n * d) for n, d in zip(shape, pixel_a, strict=True))
    return np.hypot(np.cos(phi) * dax, np.sin(phi) * day)


def test_defocus_is_fresnel_propagation_of_the_focused_probe():
    """C10 = dz is the in-focus probe propagated by dz with exp(-i pi lambda k^2 dz)."""
    shape, pixel_a, dz = (64, 64), (0.15, 0.15), 120.0
    focused = Probe(shape, WAVELENGTH, 0.15e-10, 22.0, trainable=())
    kx, ky = k_grid(shape, pixel_a)
    propagator = np.exp(-1j * np.pi * LAMBDA_A * (kx**2 + ky**2) * dz)
    psi0 = np.asarray(focused()).astype(np.complex128)
    expected = np.fft.ifft2(np.fft.fft2(psi0) * propagator)
    defocused = Probe(shape, WAVELENGTH, 0.15e-10, 22.0, {"C10": dz}, trainable=("C10",))
    edge = np.pi * LAMBDA_A * dz * (22e-3 / LAMBDA_A) ** 2
    assert edge > 5  # a real defocus: several radians at the aperture edge
    tol = probe_tolerance(jnp.float32, edge, 64 * 64) + rounding_tolerance(
        jnp.float32, terms=2 * math.log2(64 * 64)
    )  # the reference starts from the float32 focused probe: its two FFTs
    assert_close(defocused(), expected, scale=tol / rounding_tolerance(jnp.float32))
    # and the sign: -dz is the other way, far from it
    other = Probe(shape, WAVELENGTH, 0.15e-10, 22.0, {"C10": -dz})()
    assert np.max(np.abs(np.asarray(other) - expected)) > 100 * tol


def test_a_large_defocus_spreads_the_probe_over_the_geometric_disk():
    """Geometric optics: far from focus the beam is a uniform disk of radius alpha * dz, so a
    quarter of the power lies within half that radius (2 % on the radius is 0.01 here; the
    Fresnel fringes at this defocus move it by 0.003), and nearly all within 1.2 times it."""
    alpha, dz, pixel, n = 20e-3, 2500.0, 0.5, 256
    p = Probe((n, n), WAVELENGTH, pixel * 1e-10, alpha * 1e3, {"C10": dz})
    intensity = np.abs(np.asarray(p(), np.complex128)) ** 2
    r = (np.arange(n) - n // 2) * pixel
    radius = np.hypot(r[:, None], r[None, :]) / (alpha * dz)
    assert abs(np.sum(intensity[radius <= 0.5]) - 0.25) < 0.01
    assert np.sum(intensity[radius <= 1.2]) > 0.99


def test_the_aperture_edge():
    shape, pixel_a, alpha = (48, 48), (0.25, 0.25), 24.0
    for softness in (None, 0.0, 3.0):
        p = Probe(shape, WAVELENGTH, 0.25e-10, alpha, aperture_softness=softness)
        spectrum = np.fft.fft2(np.fft.ifftshift(np.asarray(p(), np.complex128)), norm="ortho")
        width = _pixel_mrad(p) if softness is None else softness
        expected = aperture_reference(shape, pixel_a, alpha, width)
        expected = expected / np.sqrt(np.sum(expected**2))
        assert_close(np.abs(spectrum).astype(np.float32), expected, terms=math.log2(48 * 48) + 4)
        a = 1e3 * LAMBDA_A * np.hypot(*k_grid(shape, pixel_a))
        w = np.max(width)
        assert np.all(expected[a <= alpha - w / 2] == expected.max())  # full inside
        assert np.all(expected[a >= alpha + w / 2] == 0)  # nothing outside
        if softness == 3.0:  # half height on the edge, linear across it
            ring = np.abs(a - alpha) < w / 2
            assert ring.sum() > 10
            half = 0.5 - (a[ring] - alpha) / w
            assert_close(
                (np.abs(spectrum[ring]) / expected.max()).astype(np.float32), half, terms=100
            )
    assert np.max(_pixel_mrad(p)) == pytest.approx(1e3 * LAMBDA_A / (48 * 0.25))


def test_power_and_centre():
    p = Probe((33, 40), WAVELENGTH, 0.3e-10, 20.0, {"C30": 1e4}, scale=2.5)
    psi = np.asarray(p(), np.complex128)
    assert_close(np.sum(np.abs(psi) ** 2).astype(np.float32), 6.25, terms=33 * 40)
    assert np.unravel_index(np.argmax(np.abs(psi)), psi.shape) == (16, 20)  # rows//2, cols//2


# --- gradients ----------------------------------------------------------------------------------


def test_gradients_in_angstrom_match_finite_differences_in_float64():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        weights = jnp.asarray(rng.normal(size=(32, 32)))

        def loss(c10, c12, phi12):
            p = Probe(
                (32, 32), WAVELENGTH, 0.25e-10, 24.0,
                {"C10": c10, "C12": c12, "phi12": phi12, "C30": 5e4},
                trainable=("C10", "C12"),
            )  # fmt: skip
            return jnp.sum(weights * jnp.abs(p()) ** 2)

        x = (jnp.float64(60.0), jnp.float64(25.0), jnp.float64(0.4))
        grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(*x)
        h = {0: 1e-3, 1: 1e-3, 2: 1e-5}  # ~ eps**(1/3) of each argument's scale
        for i, g in enumerate(grads):
            up = [float(v) + (h[i] if j == i else 0) for j, v in enumerate(x)]
            down = [float(v) - (h[i] if j == i else 0) for j, v in enumerate(x)]
            fd = (loss(*up) - loss(*down)) / (2 * h[i])
            assert abs(float(g)) > 1e-6
            # central differences: truncation ~ h**2, rounding ~ eps * |loss| / h
            assert abs(float(g) - float(fd)) <= 1e-6 * abs(float(fd)) + 1e-9


def test_gradient_of_the_stored_parameters_matches_finite_differences():
    with jax.enable_x64(True):
        p = Probe((16, 16), WAVELENGTH, 0.4e-10, 25.0, {"C10": 50.0, "C12": 10.0})
        assert p.edge_phases["C10"].dtype == jnp.float64 and p().dtype == jnp.complex128
        w = jnp.asarray(np.random.default_rng(1).normal(size=(16, 16)))

        def loss(q):
            return jnp.sum(w * jnp.abs(q()) ** 2)

        g = jax.grad(loss)(p)
        for name, index in (("C10", ()), ("C12", (0,)), ("C12", (1,))):
            h = 1e-5

            def at(s, name=name, index=index):
                value = p.edge_phases[name]
                return loss(eqx.tree_at(lambda q: q.edge_phases[name], p, value.at[index].add(s)))

            fd = (at(h) - at(-h)) / (2 * h)
            # central differences: truncation h**2 |f'''| / 6 ~ 1e-10 |f| (chi is a phase of
            # order one per unit of edge phase), rounding eps |f| / h ~ 2e-11 |f|
            assert abs(float(g.edge_phases[name][index]) - float(fd)) <= 1e-8 * abs(float(fd))


# --- modes from a spread of defocus ------------------------------------------------------------


def test_modes_sum_to_a_gaussian_spread_of_defocus():
    shape, pixel_a, sigma, c10 = (32, 32), (0.25, 0.25), 30.0, 40.0
    modes = Probe((6, *shape), WAVELENGTH, 0.25e-10, 24.0, {"C10": c10}, focal_spread=sigma)
    out = np.asarray(modes(), np.complex128)
    assert out.shape == (6, *shape)
    assert_close(np.sum(np.abs(out) ** 2).astype(np.float32), 1.0, terms=6 * 32 * 32)
    # dense quadrature of the Gaussian over defocus, in float64
    aperture = aperture_reference(shape, pixel_a, 24.0, _pixel_mrad(modes))
    offsets = np.linspace(-6 * sigma, 6 * sigma, 1201)
    density = np.exp(-(offsets**2) / (2 * sigma**2))
    density /= density.sum()
    expected = sum(
        w * np.abs(probe_reference(aperture, chi_reference(shape, pixel_a, {"C10": c10 + d}))) ** 2
        for d, w in zip(offsets, density, strict=True)
    )
    intensity = np.sum(np.abs(out) ** 2, axis=0)
    # 6-point Gauss-Hermite is exact to degree 11 in the offset; the rest is float32 rounding
    assert np.max(np.abs(intensity - expected)) < 1e-3 * np.max(expected)
    # the focal spread trains, and its gradient reaches the stored parameter
    trained = Probe(
        (3, *shape), WAVELENGTH, 0.25e-10, 24.0, {"C10": c10},
        trainable=("C10", "focal_spread"), focal_spread=sigma,
    )  # fmt: skip
    g = jax.grad(lambda q: jnp.sum(jnp.abs(q()[:, 14:18, 14:18]) ** 2))(trained)
    assert float(g.edge_phases["focal_spread"]) != 0
    assert_close(trained.coefficients()["focal_spread"], sigma, terms=4)


# --- with_array, coefficients ------------------------------------------------------------------


def test_with_array_keeps_the_aberrations_and_takes_the_power():
    c = {"C10": 70.0, "C12": 12.0, "phi12": 0.3, "C30": 3e4}
    p = Probe((2, 20, 20), WAVELENGTH, 0.3e-10, 22.0, c, focal_spread=20.0)
    guess = 4.0 * np.exp(1j * np.random.default_rng(2).normal(size=(2, 20, 20)))
    for with_array in (lambda p, t: p.with_array(t), jax.jit(lambda p, t: p.with_array(t))):
        q = with_array(p, jnp.asarray(guess, jnp.complex64))
        assert type(q) is Probe
        assert_close(jnp.sum(jnp.abs(q()) ** 2), 16.0 * 800, terms=800)
        assert jax.tree_util.tree_all(
            jax.tree_util.tree_map(jnp.array_equal, q.edge_phases, p.edge_phases)
        )
        assert_close(q() / jnp.sqrt(16.0 * 800), p(), terms=64)  # the same shape of probe
    q = p.with_array(np.zeros((2, 20, 20)))
    assert np.all(np.isfinite(np.asarray(q()))) and float(jnp.exp(q.log_scale)) > 0
    with pytest.raises(ValueError, match=r"target must have shape \(2, 20, 20\)"):
        p.with_array(jnp.ones((20, 20)))


def test_coefficients_come_back_in_angstrom_and_radians():
    c = {"C10": -35.0, "C12": 12.0, "phi12": 0.3, "C21": 250.0, "phi21": 2.5, "C23": -90.0}
    c |= {"phi23": 0.4, "C30": 2.1e4}
    for trainable in (("C10", "C12", "C21", "C23", "C30"), ("C12",), ()):
        got = Probe((16, 16), WAVELENGTH, 0.3e-10, 22.0, c, trainable=trainable, scale=2.0)
        got = {k: float(v) for k, v in got.coefficients().items()}
        assert set(got) == {*c, "phi21", "focal_spread", "scale"}
        for name in ("C10", "C30"):
            assert got[name] == pytest.approx(c[name], rel=1e-6)
        assert got["scale"] == pytest.approx(2.0, rel=1e-6)
        for name, m in (("C12", 2), ("C21", 1), ("C23", 3)):
            angle = f"phi{name[1:]}"
            # the same term: C cos(m (phi - phi_nm)) at every phi
            phis = np.linspace(0, 2 * np.pi, 7)
            want = c[name] * np.cos(m * (phis - c[angle]))
            have = got[name] * np.cos(m * (phis - got[angle]))
            assert np.allclose(have, want, rtol=0, atol=1e-5 * abs(c[name]))
            if name in trainable:
                assert got[name] >= 0 and -np.pi / m < got[angle] <= np.pi / m


# --- a short recovery: C10 from diffraction, object known -------------------------------------


def test_gradient_descent_recovers_the_defocus():
    """Far-field patterns of a known probe (C10 = 100 A, fixed C12 and C30) through a known
    weak phase object at a 4 x 4 scan; start at C10 = 70 A (30 % off) and descend on C10 alone
    (its edge phase) with a fixed step: within 5 % of 100 A."""
    n, step = 32, 4
    c = {"C12": 8.0, "phi12": 0.5, "C30": 2e4}
    true = Probe((n, n), WAVELENGTH, 0.3e-10, 22.0, {"C10": 100.0, **c}, trainable=("C10",))
    start = Probe((n, n), WAVELENGTH, 0.3e-10, 22.0, {"C10": 70.0, **c}, trainable=("C10",))
    rng = np.random.default_rng(4)
    smooth = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(48, 48))) * _lowpass(48, 6)))
    obj = jnp.exp(1j * 0.8 * jnp.asarray(smooth / np.abs(smooth).max(), jnp.float32))
    corners = [(i * step, j * step) for i in range(4) for j in range(4)]

    def patterns(probe):
        waves = jnp.stack([probe * obj[r : r + n, s : s + n] for r, s in corners])
        return jnp.abs(jnp.fft.fft2(waves, norm="ortho")) ** 2

    measured = patterns(true())

    def loss(p):  # amplitude misfit
        return jnp.sum((jnp.sqrt(patterns(p()) + 1e-12) - jnp.sqrt(measured)) ** 2)

    grad = jax.jit(jax.grad(loss))
    p = start
    for _ in range(60):
        g = grad(p)
        p = eqx.tree_at(
            lambda q: q.edge_phases["C10"], p, p.edge_phases["C10"] - 0.5 * g.edge_phases["C10"]
        )
    c10 = float(p.coefficients()["C10"])
    assert abs(c10 - 100.0) < 5.0, c10


def _lowpass(n, cutoff):
    k = np.fft.fftfreq(n) * n
    return (np.hypot(k[:, None], k[None, :]) <= cutoff).astype(float)


# --- bad input ---------------------------------------------------------------------------------

GOOD = {
    "output_shape": (16, 16),
    "wavelength": WAVELENGTH,
    "pixel_size": 0.3e-10,
    "convergence_angle": 20.0,
}


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"aberrations": {"C11": 1.0}}, ValueError,
         r"aberrations has the unknown name 'C11'; valid: C10, C12, phi12, C21, phi21, C23, "
         r"phi23, C30 \(Angstrom and radians\)\."),
        ({"aberrations": {"defocus": 50.0}}, ValueError, r"'defocus' \(abTEM's defocus is -C10"),
        ({"aberrations": {"Cs": 1e7}}, ValueError, r"'Cs' \(spherical aberration is C30"),
        ({"aberrations": {"C10": float("nan")}}, ValueError,
         r"aberrations\['C10'\] must be a finite"),
        ({"aberrations": [("C10", 1.0)]}, TypeError, r"aberrations must be a mapping"),
        ({"trainable": ("C10", "C40")}, ValueError,
         r"trainable has the unknown name 'C40'; valid: C10, C12, C21, C23, C30, focal_spread\."),
        ({"trainable": ("phi12",)}, ValueError, r"'phi12' trains with 'C12'.*name 'C12'"),
        ({"wavelength": 0.0}, ValueError, r"wavelength must be positive \(metres\); got 0\.0\."),
        ({"wavelength": -2e-12}, ValueError, r"wavelength must be positive"),
        ({"wavelength": float("nan")}, ValueError, r"wavelength must be a finite real number"),
        ({"wavelength": float("inf")}, ValueError, r"wavelength must be a finite real number"),
        ({"wavelength": 0.02508}, ValueError, r"wavelength is in metres; got 0\.02508.*Angstrom"),
        ({"wavelength": "2.5e-12"}, TypeError, r"wavelength must be a real number"),
        ({"pixel_size": 0.0}, ValueError, r"pixel_size must be positive \(metres\)"),
        ({"pixel_size": (0.3e-10, -1.0)}, ValueError, r"pixel_size must be positive"),
        ({"pixel_size": float("inf")}, ValueError, r"pixel_size must be a finite real number"),
        ({"pixel_size": (1e-11, 1e-11, 1e-11)}, ValueError, r"pixel_size must be one number or"),
        ({"pixel_size": 0.3}, ValueError, r"pixel_size is in metres"),
        ({"convergence_angle": 0}, ValueError, r"convergence_angle must be positive \(mrad\)"),
        ({"convergence_angle": float("nan")}, ValueError, r"convergence_angle must be a finite"),
        ({"convergence_angle": 50.0}, ValueError,
         r"convergence_angle 50 mrad is larger than the sampling holds along rows, wavelength "
         r"/ \(2 pixel_size\) = 41\.8 mrad: give a smaller pixel_size\."),
        ({"aperture_softness": -1.0}, ValueError, r"aperture_softness must be at least 0"),
        ({"scale": 0.0}, ValueError, r"scale must be positive"),
        ({"output_shape": (16,)}, ValueError, r"output_shape must be \(rows, columns\) or"),
        ({"output_shape": (0, 16)}, ValueError, r"output_shape must be"),
        ({"output_shape": (3, 16, 16)}, ValueError, r"focal_spread must be positive for"),
        ({"focal_spread": 10.0}, ValueError, r"focal_spread needs modes"),
        ({"focal_spread": -1.0, "output_shape": (2, 16, 16)}, ValueError,
         r"focal_spread must be at least 0"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_argument(changes, error, message):
    with pytest.raises(error, match=message) as info:
        Probe(**{**GOOD, **changes})
    assert "\n" not in str(info.value)


def test_a_single_name_and_traced_static_values():
    assert Probe(**GOOD, trainable="C12").trainable == ("C12",)
    with pytest.raises(TypeError, match="aberrations\\['C30'\\] is a traced value"):
        jax.jit(lambda c: Probe(**GOOD, aberrations={"C30": c}, trainable=())())(1.0)


# --- registry, kit, specs, checkpoints, stacks --------------------------------------------------


def test_registered():
    assert ptyrax_core.registry.get("aberration_probe") is Probe
    from ptyrax_core.parametrizations import AberrationProbeArrayParametrization as exported

    assert exported is Probe


def test_conformance(ptyrax_example):
    """ptyrax-core's kit, over this plugin's examples (and the other loaded plugins')."""
    check_parametrization(ptyrax_example)


def test_build_from_a_spec_and_save_load(tmp_path):
    spec = {
        "type": "aberration_probe",
        "output_shape": [2, 16, 16],
        "wavelength": WAVELENGTH,
        "pixel_size": [0.3e-10, 0.25e-10],
        "convergence_angle": 20,
        "aberrations": {"C10": 50, "C12": 10.0, "phi12": 0.2},
        "trainable": ["C10"],
        "focal_spread": 25.0,
    }
    built = ptyrax_core.build(spec)
    assert type(built) is Probe and built.pixel_size == (0.3e-10, 0.25e-10)
    assert built.output_shape == (2, 16, 16) and built.trainable == ("C10",)
    direct = Probe(
        (2, 16, 16), WAVELENGTH, (0.3e-10, 0.25e-10), 20.0,
        {"C10": 50.0, "C12": 10.0, "phi12": 0.2}, trainable=("C10",), focal_spread=25.0,
    )  # fmt: skip
    assert jnp.array_equal(built(), direct())
    ptyrax_core.save(tmp_path / "m.ptyrax", {"probe": built})
    back = ptyrax_core.load(tmp_path / "m.ptyrax")["probe"]
    assert type(back) is Probe and jnp.array_equal(back(), built())
    with pytest.raises(ptyrax_core.SpecError, match=r"aberration_probe .*unknown name 'df'"):
        ptyrax_core.build({**spec, "aberrations": {"df": 1.0}})


def test_stacks_and_vmap():
    a = Probe(**GOOD, aberrations={"C10": 30.0})
    b = Probe(**GOOD, aberrations={"C10": -30.0})
    stack = jax.tree.map(lambda *x: jnp.stack(x), a, b)
    assert stack.stack_shape == (2,) and stack().shape == (2, 16, 16)
    assert_close(stack(), jnp.stack([a(), b()]), terms=8)
    c10 = jnp.array([30.0, -30.0])
    made = jax.vmap(lambda c: Probe(**GOOD, aberrations={"C10": c})())(c10)
    assert_close(made, stack(), terms=8, scale=1.0)
