"""`ptyrax inspect FILE`: the first thing a user runs on a new file."""

import numpy as np
import pytest
from ptyrax_reconstruct import read_cxi

from ptyrax_core.cli import main


def test_the_shipped_scan_on_one_screen_and_in_a_picture(shipped_scan, tmp_path, capsys):
    assert main(["inspect", str(shipped_scan), "--png", str(tmp_path / "scan.png")]) == 0
    out = capsys.readouterr().out.splitlines()
    scan = read_cxi(shipped_scan)
    mean = scan.frames().astype(np.float64).mean(axis=0)
    bad = int((~scan.valid).sum())
    assert out[1] == "frames       200 of 100 x 100 (entry_1/instrument_1/detector_1/data)"
    assert out[2].startswith(f"counts       mean {mean.mean():.4g} a pixel, {mean.sum():.4g} a")
    assert out[3] == f"mask         {bad} bad pixel(s) of 10000" and bad > 0
    assert out[4] == f"wavelength   {scan.wavelength:.6g} m"
    assert out[5] == "distance     1.12 m (sample to detector)"
    low = scan.translations[:, 0].min() * 1e6
    assert out[7].startswith(f"translations x {low:.4g} to ") and " z 0 to 0 um" in out[7]
    assert out[-1] == f"wrote {tmp_path / 'scan.png'}"
    assert (tmp_path / "scan.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--reader", "nope"], "data.reader: No reader is registered as 'nope'"),
        (["--arg", "rows=128"], "data.rows: the cxi reader takes no such argument"),
        (["--arg", "rows"], "--arg 'rows': expected KEY=VALUE"),
    ],
)
def test_what_cannot_be_read_is_one_line_and_exit_2(shipped_scan, arguments, message, capsys):
    assert main(["inspect", str(shipped_scan), *arguments]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("ptyrax inspect: error: ") and err.count("\n") == 1
    assert message in err


def test_a_file_that_is_not_there_is_named(tmp_path, capsys):
    assert main(["inspect", str(tmp_path / "gone.cxi")]) == 2
    assert f"{tmp_path / 'gone.cxi'}: no such file" in capsys.readouterr().err
