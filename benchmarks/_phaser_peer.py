"""Peer of benchmark k: phaser (phaserEM 0.3.1, JAX backend) on the abTEM SrTiO3 scan.

A standalone script, run by the Python that has phaser (`phaserem[jax]`); ptyrax never
imports it. It follows phaser's own example for simulated data (`examples/si_lsqml.yaml` of
hexane360/phaser): the conventional engine with the LSQ-ML solver (amplitude noise model,
`beta_probe` 0.1, `beta_object` 0.5, `gamma` 0, `illum_reg_object` 1e5 at
14.46e6 electrons a pattern, scaled here to the scan's dose: 422 at 61 000), a layer
regularization across the slices and a probe support limited to the aperture; the example's
position solver is left out, as the simulated positions are exact, and the group size is the
benchmark's 64. The file is the one ptyrax reads (`frames`, 4D, counts; abTEM's patterns
are fftshifted, which phaser's `manual` reader undoes), with the same probe start: 21.4 mrad
and the same defocus (phaser's `defocus` is the Krivanek `C10`, positive overfocus).

An observer records each iteration's end time (wall clock, after the state is ready) and, at
the iterations asked for (`--snapshots`), the projected phase (the sum of the slices'
phases) with each window's top-left corner in object pixels, for the benchmark to compare with
the truth the same way for every tool. Writes a JSON (times, phase snapshots as .npz beside it).

    python benchmarks/_phaser_peer.py --data sto.h5 --out result.json --slices 5 \
        --thickness 19.525 --modes 1 --iterations 10 --snapshots 1,2,5,10
"""

import logging
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np
from _electron_peer import Clock, arguments


def _plan(args):
    from phaser.plan import ReconsPlan

    engine = {
        "type": "conventional",
        "probe_modes": args.modes,
        "niter": args.iterations,
        "grouping": args.batch,
        "noise_model": {"type": "amplitude", "eps": 1.0},
        "solver": {
            "type": "lsqml",
            "beta_probe": 0.1,
            "beta_object": 0.5,
            "gamma": 0.0,
            "illum_reg_object": args.illum_reg,
            "illum_reg_probe": 0.0,
        },
        "group_constraints": [],
        "iter_constraints": [{"type": "limit_probe_support", "max_angle": args.aperture + 1.0}]
        + ([{"type": "layers", "sigma": 100.0, "weight": 0.15}] if args.slices > 1 else []),
        "calc_error": args.calc_error,
        "save": False,
        "save_images": False,
    }
    if args.slices > 1:
        engine["slices"] = {"n": args.slices, "total_thickness": args.thickness}
    return ReconsPlan.from_data(
        {
            "name": "sto",
            "backend": "jax",
            "raw_data": {
                "type": "manual",
                "path": args.data,
                "key": "frames",
                "diff_step": args.diff_step,
                "kv": args.kv,
            },
            "init": {
                "probe": {
                    "type": "focused",
                    "conv_angle": args.aperture,
                    "defocus": args.c10,
                },
                "scan": {
                    "type": "raster",
                    "shape": list(args.scan),
                    "step_size": args.step,
                },
            },
            "engines": [engine],
        }
    )


def main():
    ap = arguments(__doc__.split("\n")[0])
    ap.add_argument("--diff-step", type=float, default=2.0069894726750963, help="mrad a pixel")
    ap.add_argument(
        "--illum-reg",
        type=float,
        default=1.0e5 * 60996.1 / 14.46e6,
        help="LSQ-ML object regularization, counts: the example's 1e5 at its 14.46e6 "
        "electrons a pattern, scaled to this scan's 61 000",
    )
    ap.add_argument("--calc-error", action="store_true", help="phaser's error on 10 %% of frames")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import jax
    import phaser
    from phaser.execute import execute_plan
    from phaser.observer import Observer

    clock = Clock(args.snapshots)

    def snapshot(state):
        obj = np.asarray(state.object.data)
        sampling = state.object.sampling
        centres = np.asarray(state.scan.data).reshape(-1, 2)
        window = np.asarray(np.asarray(state.probe.data).shape[-2:])
        corners = (centres - np.asarray(sampling.corner)) / np.asarray(sampling.sampling)
        return np.angle(obj).sum(0) if obj.ndim == 3 else np.angle(obj), corners - (window - 1) / 2

    class Record(Observer):
        def update_iteration(self, state, i, n, errors):
            jax.block_until_ready(state.object.data)
            clock.iteration(lambda: snapshot(state))

    clock.start()
    execute_plan(_plan(args), observers=[Record()])
    clock.write(
        args.out,
        {
            "tool": "phaser",
            "version": getattr(phaser, "__version__", "0.3.1"),
            "jax_version": jax.__version__,
            "engine": "conventional LSQ-ML",
            "slices": args.slices,
            "modes": args.modes,
            "batch": args.batch,
        },
    )


if __name__ == "__main__":
    main()
