"""Peer of benchmark k: PtyRAD 1.0.0 (PyTorch) on the abTEM SrTiO3 scan.

A standalone script, run by the Python that has PtyRAD (`ptyrad==1.0.0` with a CPU torch);
ptyrax never imports it. `ptyrad run` refuses a machine without a GPU, so the script drives
PtyRAD's Python API: `load_params` (PtyRAD's validation and defaults) on the params its
`standard.yaml` template gives, then `PtyRADSolver(params, device=set_gpu_device("cpu"))`
and `solver.reconstruct()`, whose loop (`recon_loop`) is PtyRAD's own. From the template:
the amplitude loss (`loss_single`, `dp_pow` 0.5), Adam at 5e-4 for the object's amplitude and
phase and 1e-4 for the probe, the constraints `ortho_pmode`, `fix_probe_int`, `obj_zblur`
(multislice only) and `obja_thresh`. The scan's own settings: the file that ptyrax reads
(`frames`, reshaped to (1600, 64, 64)), its detector calibration (`dk`, 1/A a pixel), 200 kV,
21.4 mrad and the same starting `C10`, the grid of 40 x 40 steps of 0.781 A, batches of 64;
the positions are exact, so neither refined nor jittered (`pos_scan_rand_std` 0).

Each iteration's end (wall clock from the solver's creation, after PtyRAD's own timed
`recon_step`) is recorded, and at the iterations asked for (`--snapshots`) the projected phase
(the slices' phases summed) with the windows' top-left corners in object pixels, written to an
.npz beside the JSON; the snapshots' own time is left out of the clock.

    python benchmarks/_ptyrad_peer.py --data sto.h5 --out result.json --slices 5 \
        --thickness 19.525 --modes 1 --iterations 10 --snapshots 1,2,5,10
"""

import logging
import os
import tempfile

os.environ.setdefault("MPLBACKEND", "Agg")

import yaml
from _electron_peer import Clock, arguments


def _params(args, folder):
    params = {
        "init_params": {
            "probe_kv": args.kv,
            "probe_conv_angle": args.aperture,
            "probe_aberrations": {"C10": args.c10},
            "meas_Npix": args.window,
            "pos_N_scan_slow": args.scan[0],
            "pos_N_scan_fast": args.scan[1],
            "pos_scan_step_size": args.step,
            "pos_scan_rand_std": 0.0,
            "probe_pmode_max": args.modes,
            "obj_Nlayer": args.slices,
            "obj_slice_thickness": args.thickness / args.slices,
            "meas_reshape": [args.scan[0] * args.scan[1], args.window, args.window],
            "meas_calibration": {"mode": "dk", "value": args.dk},
            "meas_params": {"path": args.data, "key": "frames"},
            "random_seed": 0,
        },
        "model_params": {
            "update_params": {
                "obja": {"start_iter": 1, "lr": 5.0e-4},
                "objp": {"start_iter": 1, "lr": 5.0e-4},
                "probe": {"start_iter": 1, "lr": 1.0e-4},
                "probe_pos_shifts": {"start_iter": None, "lr": 0.0},
            },
        },
        "loss_params": {
            "loss_single": {"state": True, "weight": 1.0, "dp_pow": 0.5},
        },
        "constraint_params": {
            "ortho_pmode": {"start_iter": 1, "step": 1, "end_iter": None},
            "fix_probe_int": {"start_iter": 1, "step": 1, "end_iter": None},
            "obj_zblur": {
                "start_iter": 1 if args.slices > 1 else None,
                "step": 1,
                "end_iter": None,
                "obj_type": "both",
                "kernel_size": 5,
                "std": 1,
            },
            "obja_thresh": {
                "start_iter": 1,
                "step": 1,
                "end_iter": None,
                "relax": 0,
                "thresh": [0.96, 1.04],
            },
        },
        "recon_params": {
            "NITER": args.iterations,
            "BATCH_SIZE": {"size": args.batch, "grad_accumulation": 1},
            "SAVE_ITERS": None,
            "output_dir": str(folder),
            "compiler_configs": {"enable": args.compile},
        },
    }
    path = os.path.join(folder, "params.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(params, f)
    return path


def main():
    ap = arguments(__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--dk", type=float, default=0.0800256, help="1/A a detector pixel")
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--compile", action="store_true", help="PtyRAD's torch.compile option")
    ap.add_argument(
        "--flush-denormal",
        action="store_true",
        help="torch.set_flush_denormal(True): subnormal floats as zero (off in PtyRAD)",
    )
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)
    import ptyrad
    from ptyrad.params.parser import load_params
    from ptyrad.runtime.device import set_gpu_device
    from ptyrad.solver import ptyrad_solver, reconstruction

    logging.getLogger("ptyrad").setLevel(logging.WARNING)
    clock = Clock(args.snapshots)
    original_step = reconstruction.recon_step

    @torch.no_grad()
    def snapshot(model):
        m = model.module if hasattr(model, "module") else model
        phase = m.opt_objp.detach()[0].sum(0).cpu().numpy()
        return phase, (m.crop_pos + m.opt_probe_pos_shifts).detach().cpu().numpy()

    def step(batches, grad_accumulation, model, *rest, **kwargs):
        out = original_step(batches, grad_accumulation, model, *rest, **kwargs)
        clock.iteration(lambda: snapshot(model))
        return out

    reconstruction.recon_step = step  # recon_loop calls it by its module's name
    with tempfile.TemporaryDirectory() as folder:
        params = load_params(_params(args, folder))
        clock.start()
        solver = ptyrad_solver.PtyRADSolver(params, device=set_gpu_device("cpu"), seed=0)
        solver.reconstruct()
    clock.write(
        args.out,
        {
            "tool": "PtyRAD",
            "version": ptyrad.__version__,
            "torch_version": torch.__version__,
            "threads": torch.get_num_threads(),
            "slices": args.slices,
            "modes": args.modes,
            "batch": args.batch,
            "compile": args.compile,
            "flush_denormal": args.flush_denormal,
            "iteration_seconds": [float(x) for x in solver.reconstruct_results.iter_times],
        },
    )


if __name__ == "__main__":
    main()
