"""Readers: the kind the engine defines, the CXI reader behind it, choosing one by name or by
the file's name ending, and scans whose frames a reader reads lazily (`Scan.source`)."""

import dataclasses

import numpy as np
import pytest
from ptyrax_reconstruct import (
    CxiReader,
    Penalty,
    Reader,
    Scan,
    load_config,
    read_cxi,
    reconstruct,
)
from ptyrax_reconstruct._errors import ReconstructError
from ptyrax_reconstruct._readers import read_data
from ptyrax_reconstruct.testing import check_penalty, check_reader
from test_run import short_config

import ptyrax_core


def test_the_engine_defines_the_kind_and_contributes_the_cxi_reader():
    assert "readers" in ptyrax_core.registry.kinds()
    assert ptyrax_core.registry.get("cxi", "readers") is CxiReader
    assert issubclass(CxiReader, Reader) and CxiReader.suffixes == (".cxi",)
    assert ptyrax_core.registry.kind_of("cxi") == "readers"


def test_a_cxi_file_is_read_by_name_ending_or_by_name_alike(shipped_scan):
    by_ending = read_data(shipped_scan, None, {})
    by_name = read_data(shipped_scan, "cxi", {})
    direct = read_cxi(shipped_scan)
    for scan in (by_ending, by_name):
        assert scan.frames_shape == direct.frames_shape
        assert np.array_equal(scan.frames(slice(3, 5)), direct.frames(slice(3, 5)))


@pytest.mark.parametrize(
    ("name", "reader", "arguments", "match"),
    [
        ("scan.xyz", None, {}, r"no installed reader opens .scan\.xyz. by its name; name one "),
        ("scan.cxi", "nope", {}, r"data\.reader: No reader is registered as 'nope'.*cxi"),
        ("scan.cxi", "direct", {}, r"data\.reader: 'direct' is a parametrization, not a reader"),
        (
            "scan.cxi",
            "cxi",
            {"key": "data"},
            r"config: data\.key: the cxi reader takes no such argument; its arguments: none",
        ),
    ],
)
def test_a_reader_that_cannot_be_had_or_made_is_named(tmp_path, name, reader, arguments, match):
    with pytest.raises(ReconstructError, match=match):
        read_data(tmp_path / name, reader, arguments)


def test_the_config_passes_the_data_table_to_the_reader():
    config = load_config({"data": {"file": "a.raw", "reader": "empad", "rows": 128}})
    assert (config.reader, config.reader_arguments) == ("empad", {"rows": 128})
    assert load_config({"data": {"file": "a.cxi"}}).reader is None


def test_frames_a_reader_reads_lazily_reconstruct_as_frames_held_in_memory(tmp_path):
    """A scan whose `source` reads frames by range: the engine asks it for slices only (a
    process reads its share), and the run ends exactly where the same frames in memory do;
    what the source returns is checked like any frames."""
    stages = [{"epochs": 2, "learning_rate": 0.04, "batch_size": 50}]
    config = load_config(short_config(tmp_path, stages=stages))
    held = read_cxi(config.data)
    counts = held.frames()
    asked = []

    def source(indices):
        asked.append(indices)
        return counts[indices]

    lazy = dataclasses.replace(held, counts=None, source=source)
    in_memory = dataclasses.replace(held, counts=counts)
    assert reconstruct(config, scan=lazy).final_deviance == (
        reconstruct(config, scan=in_memory).final_deviance
    )
    assert asked and all(isinstance(i, slice) for i in asked)

    negative = dataclasses.replace(held, counts=None, source=lambda i: -counts[i])
    with pytest.raises(ReconstructError, match="counts must be finite and non-negative"):
        negative.frames(slice(0, 2))


def test_a_reader_must_return_a_scan(tmp_path, monkeypatch):
    class Wrong(Reader):
        registry_name = "wrong"

        def read(self, path):
            return np.zeros(3)

    get = ptyrax_core.registry.get
    monkeypatch.setattr(
        ptyrax_core.registry,
        "get",
        lambda n, k="parametrizations": Wrong if n == "wrong" else get(n, k),
    )
    with pytest.raises(ReconstructError, match="wrong returned ndarray, not a Scan"):
        read_data(tmp_path / "x.bin", "wrong", {})
    assert isinstance(Scan, type)


def test_the_cxi_reader_follows_the_kit_s_rules(shipped_scan):
    scan = check_reader(CxiReader(), shipped_scan)
    assert scan.frames_shape == (200, 100, 100)


def test_the_reader_kit_names_the_rule_a_reader_breaks(shipped_scan):
    class Shifted(CxiReader):
        """Reads a range from the first frame on, whatever its start (a reader's slip)."""

        registry_name = "shifted"

        def read(self, path):
            scan = super().read(path)
            whole = scan.frames()
            first = lambda i: whole[: len(whole[i])]  # noqa: E731
            return dataclasses.replace(scan, source=first)

    class Nanometres(CxiReader):
        registry_name = "nanometres"

        def read(self, path):
            scan = super().read(path)
            return dataclasses.replace(scan, wavelength=scan.wavelength * 1e9)

    class Calibrated(CxiReader):
        registry_name = "calibrated"

        def __init__(self, distance: float = 1.0):  # never given: the engine takes data.distance
            self.distance = distance

    with pytest.raises(AssertionError, match=r"rule 2\. frames read by range"):
        check_reader(Shifted(), shipped_scan)
    with pytest.raises(AssertionError, match=r"rule 6\. its arguments are not named .*: distance"):
        check_reader(Calibrated(), shipped_scan)
    with pytest.raises(AssertionError, match=r"rule 4\. calibration in metres"):
        check_reader(Nanometres(), shipped_scan)


def test_the_penalty_kit_names_the_rule_a_penalty_breaks():
    import jax.numpy as jnp

    class Squares(Penalty):
        registry_name = "squares"

        def __call__(self, x):
            return jnp.mean(jnp.abs(x) ** 2)

    class Signed(Penalty):
        registry_name = "signed"

        def __call__(self, x):
            return jnp.sum(x)

    x = jnp.linspace(-1.0, 1.0, 12).reshape(3, 4)
    check_penalty(Squares(), x, zero=jnp.zeros((3, 4)))
    check_penalty(Squares(), jnp.exp(1j * x))
    with pytest.raises(AssertionError, match=r"rule 1\. the value is a real, finite, non-neg"):
        check_penalty(Signed(), x - 1)
    with pytest.raises(AssertionError, match=r"rule 4\. it is zero at `zero`"):
        check_penalty(Squares(), x, zero=jnp.ones((3, 4)))
