"""Frames on the devices in their smallest exact type (uint8, uint16, else float32): the
same reconstruction bit for bit as float32 frames."""

import dataclasses

import numpy as np
import pytest
from ptyrax_reconstruct import Stage, _fit, load_config, reconstruct


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([0.0, 1.0, 255.0], np.uint8),
        ([0.0, 256.0], np.uint16),
        ([3.0, 65535.0], np.uint16),
        ([0.0, 65536.0], np.float32),  # beyond uint16
        ([0.0, 2.5], np.float32),  # not whole: a background-subtracted or scaled frame
        ([-1.0, 2.0], np.float32),  # negative
        ([], np.uint8),  # a process whose devices hold only padding
    ],
)
def test_the_compact_type_holds_every_count_exactly(counts, expected):
    block = np.asarray(counts, np.float32).reshape(-1, 1, 1)
    dtype = _fit.compact_dtype(block, chunk=2)  # several chunks: the verdict spans them
    assert dtype == expected
    assert np.array_equal(block.astype(dtype).astype(np.float32), block) or dtype == np.float32


def test_compact_frames_reconstruct_bit_for_bit_as_float32(example_config, tmp_path, monkeypatch):
    # The shipped scan's counts are whole and below 65536 (29176 at most): uint16 on the
    # device, half of float32's bytes; the step converts each minibatch's counts exactly.
    config = dataclasses.replace(
        load_config(example_config), stages=(Stage(2, 0.04, 10), Stage(1, 0.005, 50))
    )
    compact = reconstruct(config, out=tmp_path / "compact")
    monkeypatch.setattr(_fit, "compact_dtype", lambda block: np.dtype(np.float32))
    wide = reconstruct(config, out=tmp_path / "float32")
    assert (compact.frames_dtype, wide.frames_dtype) == ("uint16", "float32")
    assert compact.epoch_loss == wide.epoch_loss
    assert compact.final_deviance == wide.final_deviance
    for name in ("object", "probe", "positions", "background", "weights"):
        assert np.array_equal(getattr(compact, name), getattr(wide, name)), name
    assert '"frames_dtype": "uint16"' in (tmp_path / "compact" / "metrics.json").read_text()
