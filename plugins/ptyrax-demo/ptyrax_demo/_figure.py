"""The demo's picture: truth, reconstruction, probe, loss and positions."""

import pathlib

import numpy as np
from ptyrax_reconstruct import PhaseScore

from ._reconstruct import Result
from ._simulate import Dataset

MAGNIFY = 5
"""How much the position errors are enlarged in the positions panel."""


def _cropped(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def save_figure(path: pathlib.Path, data: Dataset, result: Result, score: PhaseScore) -> None:
    """Write the six-panel PNG to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mask = data.scanned
    true_phase = np.angle(data.true_object)
    low, high = np.percentile(true_phase[mask], [0.5, 99.5])

    fig, axes = plt.subplots(2, 3, figsize=(13.5, 8.5), layout="constrained")
    panels = [
        (axes[0, 0], _cropped(true_phase, mask), "true phase (rad)", "viridis", (low, high)),
        (
            axes[0, 1],
            _cropped(score.registered, mask),
            "reconstructed phase (rad)",
            "viridis",
            (low, high),
        ),
        (axes[0, 2], _cropped(score.error, mask), "phase error (rad)", "RdBu_r", (-0.3, 0.3)),
        (axes[1, 0], np.abs(result.probe), "probe amplitude", "magma", (None, None)),
    ]
    for ax, image, title, cmap, (vmin, vmax) in panels:
        shown = ax.imshow(image, cmap=cmap, vmin=vmin, vmax=vmax)
        ax.set_title(title)
        ax.set_axis_off()
        fig.colorbar(shown, ax=ax, shrink=0.8)
    axes[0, 2].set_title(f"phase error (rad), RMS {score.rmse:.3f}")

    loss = axes[1, 1]
    loss.semilogy(np.arange(len(result.losses)), result.losses)
    loss.set(title="loss", xlabel="step", ylabel="amplitude loss")
    loss.grid(alpha=0.3)

    scan = axes[1, 2]
    true = data.true_positions
    for positions, label, marker in [
        (data.nominal_positions, "initial (nominal grid)", "x"),
        (result.positions, "refined", "+"),
    ]:
        errors = positions - true - (positions - true).mean(0)
        moved = true + MAGNIFY * errors
        scan.plot(moved[:, 1], moved[:, 0], marker, ms=5, label=label)
    scan.plot(true[:, 1], true[:, 0], ".", color="black", ms=3, label="true")
    scan.set(title=f"scan positions (errors x{MAGNIFY})", xlabel="x (px)", ylabel="y (px)")
    scan.invert_yaxis()
    scan.set_aspect("equal")
    scan.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize="small")
    fig.savefig(path, dpi=90)
    plt.close(fig)
