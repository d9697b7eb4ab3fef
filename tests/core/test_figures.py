"""The docs' pictures and the numbers beside them come from one run each: the records that
`python docs/figures.py` (the main job) and `python docs/figures.py --electron` (the electron
example) wrote (without running them again)."""

import doctest
import importlib.util
import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("figures", ROOT / "docs" / "figures.py")
figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(figures)
RECORD = json.loads((ROOT / figures.RECORD).read_text())
ELECTRON = json.loads((ROOT / figures.ELECTRON_RECORD).read_text())
RERUN = "rerun `python docs/figures.py` (tox run -e docs-figures), which writes both"
RERUN_ELECTRON = "rerun `python docs/figures.py --electron` (needs sto.h5), which writes both"


def marked(name: str) -> str:
    text = (ROOT / name).read_text()
    found = re.findall(re.escape(figures.BEGIN) + ".*?" + re.escape(figures.END), text, re.S)
    assert len(found) == 1, f"{name}: one block between the figures markers; found {len(found)}"
    return found[0]


@pytest.mark.parametrize("name", sorted(figures.BLOCKS))
def test_marked_blocks_are_the_records(name):
    source, render = figures.BLOCKS[name]
    record, rerun = (RECORD, RERUN) if source == figures.RECORD else (ELECTRON, RERUN_ELECTRON)
    assert marked(name) == figures.block(render(record)), f"{name}: {rerun}"


@pytest.mark.parametrize("name", [n for n, (r, _) in figures.BLOCKS.items() if r == figures.RECORD])
def test_main_job_numbers_are_quoted(name):
    prose = " ".join(marked(name).split())
    for number in (
        f"deviance of {RECORD['final_deviance']:.2f} over all {RECORD['frames']} frames",
        f"{RECORD['median_epoch_seconds']:.3f} s an epoch",
        f"{RECORD['wall_seconds']:.1f} s in all",
        f"jax {RECORD['jax_version']}",
    ):
        assert number in prose


def test_pictures_are_the_records():
    assert RECORD["picture"] == figures.PICTURE
    assert figures.sha256(ROOT / figures.PICTURE) == RECORD["picture_sha256"], RERUN
    assert sorted(ELECTRON["pictures"]) == sorted(figures.ELECTRON_PICTURES.values())
    for path, digest in ELECTRON["pictures"].items():
        assert figures.sha256(ROOT / path) == digest, f"{path}: {RERUN_ELECTRON}"


def test_record_is_of_the_main_job():
    assert RECORD["config"] == figures.CONFIG
    assert (ROOT / RECORD["config"]).is_file()
    assert RECORD["epochs"] > 2 and RECORD["frames"] > 0
    assert 0 < RECORD["median_epoch_seconds"] < RECORD["wall_seconds"]


def test_record_is_of_the_electron_example():
    assert (ELECTRON["config"], ELECTRON["data"]) == (figures.ELECTRON, figures.ELECTRON_DATA)
    assert ELECTRON["epochs"] > 2 and ELECTRON["frames"] > 0
    assert 0 < ELECTRON["median_epoch_seconds"] < ELECTRON["command_seconds"]
    assert 0 < ELECTRON["phase_error_rad"] < ELECTRON["truth_rms_rad"]


def test_a_table_stays_as_it_is():
    table = "| a | " + "b " * 60 + "|\n| c | d |"
    assert figures.block(f"x\n\n{table}") == "\n".join(
        [figures.BEGIN, "", "x", "", table, "", figures.END]
    )


def test_replace_block_keeps_the_rest_and_needs_one_block():
    document = f"a\n\n{figures.block('old')}\n\nb\n"
    assert figures.replace_block(document, "new", "x.md") == f"a\n\n{figures.block('new')}\n\nb\n"
    for bad in ("a\n", document + document):
        with pytest.raises(SystemExit, match=r"x\.md: expected one block"):
            figures.replace_block(bad, "new", "x.md")


def test_docstring_examples():
    assert doctest.testmod(figures, optionflags=doctest.ELLIPSIS).failed == 0
