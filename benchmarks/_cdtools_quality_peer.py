"""Peer of benchmark l: cdtools (PyTorch) on a simulated scan with a known truth.

Standalone script, run by the Python that has torch and cdtools-py 0.3.2 (it is NOT imported
by ptyrax). It reconstructs the CXI file as cdtools' examples do, with its defaults:

    dataset = Ptycho2DDataset.from_cxi(FILE)
    model = FancyPtycho.from_dataset(dataset)            # far field
    model = FancyPtycho.from_dataset(dataset, near_field=True,
                                     propagation_distance=Z1, units='um')   # near field
    recon = AdamReconstructor(model, dataset)
    for each stage: recon.optimize(epochs, lr=lr, batch_size=batch)   # loop over its yields
    model.tidy_probes()

(the loss is cdtools' default, 'amplitude mse'; object, probe, background, frame weights and
position offsets are trained from the first epoch by one Adam optimizer).

With `--truth FILE.npz` (the true `object`, `probe` in sqrt(counts), true `positions`,
`nominal` positions, both px, and the noiseless `intensities` as the file holds frames), it
first checks that cdtools reads the file in the simulation's convention: the model set to
the truth (the object placed where cdtools' frame puts the nominal scan, the true positions
as translation offsets, no background) must predict the noiseless intensities. A wrong sign
or transposition of the positions, or another propagator, shows there.

Writes `--out` (JSON: epoch times, the check, the npz's path) and next to it an npz with the
final `object`, `probe`, the `nominal_positions` in cdtools' object frame (px) and the
final model's `intensities` for every frame (model.forward, parameters fixed).

Usage:
    $PTYRAX_PEER_PYTHON benchmarks/_cdtools_quality_peer.py --data scan.cxi --out out.json \
        [--truth truth.npz] [--near-field --propagation-distance 3.65e-3] \
        [--stages 100:0.04:10,50:0.005:50] [--threads 2]
"""

import argparse
import json
import os
import time

os.environ.setdefault("MPLBACKEND", "Agg")  # cdtools imports matplotlib

import cdtools
import numpy as np
import torch as t


def nominal_pixels(model, dataset):
    """The file's positions in cdtools' object frame, px `(K, 2)`, without the offsets."""
    (_, translations), _ = dataset[:]
    pixels = cdtools.tools.interactions.translations_to_pixel(
        model.obj_basis, translations, surface_normal=model.surface_normal
    )
    return (pixels - model.min_translation).numpy().astype(np.float64)


@t.no_grad()
def forward_all(model, dataset, chunk=20):
    """The model's intensities for every frame `(K, P, Q)` float32, parameters fixed."""
    model.eval()
    out = []
    for start in range(0, len(dataset), chunk):
        (index, translations), _ = dataset[start : start + chunk]
        out.append(model.forward(index, translations).numpy())
    model.train()
    return np.concatenate(out).astype(np.float32)


@t.no_grad()
def truth_check(model, dataset, path):
    """The model set to the truth: its intensities against the noiseless ones, as the
    largest difference over the largest intensity. The model is restored afterwards."""
    truth = np.load(path)
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    nominal = nominal_pixels(model, dataset)
    corner = np.round(np.mean(nominal - truth["nominal"], axis=0)).astype(int)
    obj = np.ones(tuple(model.obj.shape), np.complex64)
    m = truth["object"].shape
    obj[corner[0] : corner[0] + m[0], corner[1] : corner[1] + m[1]] = truth["object"]
    model.obj.data = t.as_tensor(obj)
    model.probe.data = t.as_tensor(truth["probe"][None] / model.probe_norm.numpy())
    offsets = truth["positions"] + corner - nominal
    model.translation_offsets.data = t.as_tensor(offsets / float(model.translation_scale)).to(
        t.float32
    )
    model.background.data.zero_()
    model.weights.data.fill_(1.0)
    predicted = forward_all(model, dataset)
    model.load_state_dict(saved)
    noiseless = truth["intensities"]
    return float(np.abs(predicted - noiseless).max() / noiseless.max())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--truth")
    ap.add_argument("--near-field", action="store_true")
    ap.add_argument("--propagation-distance", type=float)
    ap.add_argument("--stages", default="100:0.04:10,50:0.005:50", help="epochs:lr:batch,...")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    t.set_num_threads(args.threads)
    t.manual_seed(args.seed)
    np.random.seed(args.seed)
    stages = [
        {"epochs": int(e), "lr": float(lr), "batch_size": int(b)}
        for e, lr, b in (s.split(":") for s in args.stages.split(","))
    ]

    start = time.perf_counter()
    dataset = cdtools.datasets.Ptycho2DDataset.from_cxi(args.data)
    if args.near_field:
        model = cdtools.models.FancyPtycho.from_dataset(
            dataset,
            near_field=True,
            propagation_distance=args.propagation_distance,
            units="um",
        )
    else:
        model = cdtools.models.FancyPtycho.from_dataset(dataset)
    check = truth_check(model, dataset, args.truth) if args.truth else None
    recon = cdtools.reconstructors.AdamReconstructor(model, dataset)
    epoch_seconds, losses = [], []
    for stage in stages:
        t0 = time.perf_counter()
        for loss in recon.optimize(
            stage["epochs"], lr=stage["lr"], batch_size=stage["batch_size"], thread=False
        ):
            epoch_seconds.append(time.perf_counter() - t0)
            losses.append(float(loss))
            t0 = time.perf_counter()
    model.tidy_probes()
    intensities = forward_all(model, dataset)
    total = time.perf_counter() - start

    npz = os.path.splitext(args.out)[0] + ".npz"
    obj = model.obj.detach().numpy()
    np.savez(
        npz,
        object=obj[0] if obj.ndim == 3 else obj,
        probe=(model.probe.detach() * model.probe_norm).numpy(),
        nominal_positions=nominal_pixels(model, dataset),
        intensities=intensities,
    )
    result = {
        "tool": "cdtools",
        "version": getattr(cdtools, "__version__", "unknown"),
        "torch_version": t.__version__,
        "threads": args.threads,
        "stages": stages,
        "epoch_seconds": epoch_seconds,
        "loss_history": losses,
        "total_seconds": total,
        "truth_check": check,
        "npz": npz,
    }
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
