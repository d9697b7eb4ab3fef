"""Peer benchmark: cdtools (PyTorch) on the PETRA III P25 near-field scan.

Standalone script, run with the peer virtual environment's python (torch +
cdtools-py 0.3.2); it is NOT imported by ptyrax. It reproduces cdtools' own
example ``examples/near_field_ptycho.py`` (cdtools-developers/cdtools):

    model = FancyPtycho.from_dataset(dataset, n_modes=1, near_field=True,
                                     propagation_distance=3.65e-3, units='um',
                                     obj_view_crop=-35, panel_plot_mode=True)
    recon = cdtools.reconstructors.AdamReconstructor(model, dataset)
    recon.optimize(100, lr=0.04, batch_size=10)   # loop over yields
    recon.optimize(50, lr=0.005, batch_size=50)
    model.tidy_probes()

(plots/inspect calls of the example are left out). The loss is cdtools'
default for FancyPtycho, 'amplitude mse'. All model parameters (obj, probe,
background, per-frame weights, translation_offsets) are trained from epoch 0
by one Adam optimizer whose state persists across both stages.

Afterwards, with parameters fixed, the reduced Poisson deviance over all
frames is computed:
    D = 2 * sum_{unmasked} (I - y + y*log(y/I)) / #{unmasked pixels, y >= 1}
with y*log(y/I) := 0 where y == 0 and I the model's simulated intensity
(model.forward, i.e. |propagated exit wave|^2 + background**2, with weights).

Usage:
    /work/peer-venv/bin/python benchmarks/_cdtools_peer.py --data FILE.cxi \
        --out result.json [--threads 2] [--epochs-1 100 --epochs-2 50]
Writes the JSON and a PNG of the object phase (out path with .png).
"""

import argparse
import json
import os
import statistics
import struct
import time
import zlib

os.environ.setdefault("MPLBACKEND", "Agg")  # cdtools imports matplotlib

import cdtools
import numpy as np
import torch as t


def write_png_gray(path, img):
    """Write a 2D uint8 array as a grayscale PNG using only the stdlib."""
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w = img.shape
    raw = b"".join(b"\x00" + img[r].tobytes() for r in range(h))

    def chunk(tag, data):
        c = struct.pack(">I", len(data)) + tag + data
        return c + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    with open(path, "wb") as f:
        f.write(png)


def save_phase_png(model, path, scale=3):
    obj = model.obj.detach().cpu().numpy()
    if obj.ndim == 3:
        obj = obj[0]
    obj = obj[model.obj_view_slice]
    # remove the global phase offset, then map [-pi, pi] to [0, 255]
    # (reference and colour range from the central half, which is lit;
    # the unlit rim is noise)
    h, w = obj.shape
    centre = obj[h // 4 : h - h // 4, w // 4 : w - w // 4]
    ref = np.mean(centre)
    ref = ref / abs(ref) if abs(ref) > 0 else 1.0
    ph = np.angle(obj * np.conj(ref))
    lo, hi = np.percentile(np.angle(centre * np.conj(ref)), [0.5, 99.5])
    if hi <= lo:
        lo, hi = ph.min(), ph.max() + 1e-12
    img = np.clip((ph - lo) / (hi - lo), 0, 1) * 255
    img = np.kron(img, np.ones((scale, scale)))
    write_png_gray(path, np.round(img).astype(np.uint8))
    return float(lo), float(hi), list(obj.shape)


@t.no_grad()
def poisson_deviance(model, dataset, chunk=20):
    """Reduced Poisson deviance over all frames, unmasked pixels only."""
    model.eval()
    mask = (
        model.mask if model.mask is not None else t.ones(dataset.patterns.shape[-2:], dtype=t.bool)
    )
    mask = mask.to(t.bool)
    total = 0.0
    n_pos = 0
    n_unmasked = 0
    for start in range(0, len(dataset), chunk):
        (idx, trans), y = dataset[start : start + chunk]
        intensity = model.forward(idx, trans).to(t.float64)
        y = y.to(t.float64)
        m = mask.expand_as(y)
        ylogy = t.where(y > 0, y * t.log(t.where(y > 0, y, 1.0) / intensity), t.zeros_like(y))
        term = intensity - y + ylogy
        total += float(term[m].sum())
        n_pos += int(((y >= 1) & m).sum())
        n_unmasked += int(m.sum())
    model.train()
    return 2.0 * total / n_pos, n_pos, n_unmasked


def fft_reference(n=200, shape=(100, 100), repeats=5):
    x = t.randn((n, *shape), dtype=t.complex64)
    for _ in range(3):  # warm-up
        t.fft.ifft2(t.fft.fft2(x[0]))
    loop = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            t.fft.ifft2(t.fft.fft2(x[i]))
        loop.append(time.perf_counter() - t0)
    batched = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        t.fft.ifft2(t.fft.fft2(x))
        batched.append(time.perf_counter() - t0)
    return {
        "n_pairs": n,
        "shape": list(shape),
        "dtype": "complex64",
        "loop_seconds_min": min(loop),
        "loop_seconds_median": statistics.median(loop),
        "batched_seconds_min": min(batched),
        "batched_seconds_median": statistics.median(batched),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs-1", type=int, default=100)
    ap.add_argument("--epochs-2", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0, help="torch seed (minibatch shuffling)")
    ap.add_argument(
        "--thread",
        action="store_true",
        help="use cdtools' default worker-thread mode (the "
        "example's); default runs epochs in the main thread",
    )
    ap.add_argument("--no-fft-reference", action="store_true")
    args = ap.parse_args()

    t.set_num_threads(args.threads)
    t.manual_seed(args.seed)
    np.random.seed(args.seed)

    t_setup = time.perf_counter()
    dataset = cdtools.datasets.Ptycho2DDataset.from_cxi(args.data)
    model = cdtools.models.FancyPtycho.from_dataset(
        dataset,
        n_modes=1,
        near_field=True,
        propagation_distance=3.65e-3,
        units="um",
        obj_view_crop=-35,
        panel_plot_mode=True,
    )
    setup_seconds = time.perf_counter() - t_setup
    recon = cdtools.reconstructors.AdamReconstructor(model, dataset)

    schedule = [
        {"epochs": args.epochs_1, "lr": 0.04, "batch_size": 10},
        {"epochs": args.epochs_2, "lr": 0.005, "batch_size": 50},
    ]
    epoch_seconds = []
    losses = []
    t_all = time.perf_counter()
    for stage in schedule:
        gen = recon.optimize(
            stage["epochs"], lr=stage["lr"], batch_size=stage["batch_size"], thread=args.thread
        )
        t0 = time.perf_counter()
        for loss in gen:
            t1 = time.perf_counter()
            epoch_seconds.append(t1 - t0)
            losses.append(float(loss))
            t0 = time.perf_counter()
    total_seconds = time.perf_counter() - t_all

    dev_before_tidy, _, _ = poisson_deviance(model, dataset)
    model.tidy_probes()  # as in the example (1 mode: only re-normalises)
    final_deviance, n_pos, n_unmasked = poisson_deviance(model, dataset)

    png_path = os.path.splitext(args.out)[0] + ".png"
    lo, hi, view_shape = save_phase_png(model, png_path)

    bg2 = model.background.detach() ** 2
    w = model.weights.detach()
    offs = model.translation_offsets.detach() * model.translation_scale
    e = epoch_seconds
    result = {
        "tool": "cdtools",
        "version": cdtools.__version__ if hasattr(cdtools, "__version__") else "unknown",
        "torch_version": t.__version__,
        "threads": args.threads,
        "epoch_seconds": e,
        "total_seconds": total_seconds,
        "final_deviance": final_deviance,
        "schedule": schedule,
        "frames": len(dataset),
        "notes": (
            "cdtools examples/near_field_ptycho.py: FancyPtycho.from_dataset("
            "n_modes=1, near_field=True, propagation_distance=3.65e-3, "
            "units='um', obj_view_crop=-35); one AdamReconstructor for both "
            "stages (Adam state carried over); loss = cdtools default "
            "'amplitude mse' (sum (sqrt(I)-sqrt(y))^2 over mask==True pixels)"
            "; obj, probe, background (sqrt-parametrised, I += bg**2), "
            "per-frame weights and translation_offsets all trained from "
            "epoch 0; final_deviance after model.tidy_probes(), over all "
            "frames, unmasked pixels; epoch times are wall time between "
            f"yields of recon.optimize(thread={args.thread})."
        ),
        # extra diagnostics
        "epoch_seconds_median": statistics.median(e) if e else None,
        "epoch_seconds_first": e[0] if e else None,
        "epoch_seconds_median_excl_first": statistics.median(e[1:]) if len(e) > 1 else None,
        "setup_seconds": setup_seconds,
        "final_deviance_before_tidy_probes": dev_before_tidy,
        "deviance_pixels_y_ge_1": n_pos,
        "unmasked_pixels_total": n_unmasked,
        "masked_pixels_per_frame": int((~model.mask).sum()) if model.mask is not None else 0,
        "loss_history": losses,
        "obj_shape": list(model.obj.shape),
        "obj_view_shape": view_shape,
        "probe_shape": list(model.probe.shape),
        "background_sq_mean": float(bg2.mean()),
        "background_sq_max": float(bg2.max()),
        "weights_min_max": [float(w.min()), float(w.max())],
        "translation_offsets_px_rms": float(offs.pow(2).sum(1).mean().sqrt()),
        "png": png_path,
        "png_phase_range_rad": [lo, hi],
        "seed": args.seed,
    }
    if not args.no_fft_reference:
        result["fft_reference"] = fft_reference()
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    print(
        json.dumps(
            {k: v for k, v in result.items() if k not in ("epoch_seconds", "loss_history")},
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
