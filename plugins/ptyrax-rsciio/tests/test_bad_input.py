"""What the rsciio reader cannot read is one line that names the file and what is wrong."""

import re

import h5py
import numpy as np
import pytest
from ptyrax_reconstruct import ReconstructError, read_data
from ptyrax_rsciio import RsciioReader
from writers import write_dm, write_empad, write_velox

IMAGE = np.arange(12 * 12, dtype=np.uint16).reshape(12, 12)


def _text(path, text="a note\n"):
    path.write_text(text)
    return path


def _cut(path):
    path.write_bytes(path.read_bytes()[:300])
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "absent.mib", "{path}: no such file"),
        (
            lambda d: _text(d / "a.mib"),
            "{path}: not a Merlin .mib file (its frame headers start with MQ1)",
        ),
        (lambda d: _text(d / "a.dm4"), "{path}: not a DigitalMicrograph file (version 3 or 4)"),
        (lambda d: _text(d / "a.dm3"), "{path}: not a DigitalMicrograph file (version 3 or 4)"),
        (lambda d: _text(d / "a.emd"), "{path}: not an EMD file (HDF5)"),
        (lambda d: _text(d / "a.blo"), "{path}: not a blockfile (its header starts with IMGBLO)"),
        (lambda d: _text(d / "a.xml"), "{path}: not an EMPAD .xml file"),
        (
            lambda d: _text(d / "a.xml", "<config><x>1</x></config>"),
            "{path}: not an EMPAD .xml file: its root element is <config>, not <root> naming "
            "its <raw_file>",
        ),
        (
            lambda d: _text(d / "a.xml", "<root><raw_file"),
            "{path}: not an EMPAD .xml file: unclosed token: line 1, column 6",
        ),
        (
            lambda d: write_empad(d / "a.xml", np.zeros((1, 2, 128, 128))).with_suffix(".raw"),
            None,  # the .raw itself: no reader's name ending
        ),
        (
            lambda d: h5py.File(d / "a.emd", "w").close() or d / "a.emd",
            "{path}: cannot be read as EMD: The file is not a supported EMD file.",
        ),
        (
            lambda d: write_velox(d / "a.emd", {"HAADF": IMAGE[None]}),
            "{path}: no stack of frames or 4D scan (one or two navigation axes, two signal "
            "axes) in it; it holds 0: HAADF (12, 12)",
        ),
        (
            lambda d: write_dm(d / "a.dm4", IMAGE, [(1.0, ""), (1.0, "")]),
            "{path}: no stack of frames or 4D scan (one or two navigation axes, two signal "
            "axes) in it; it holds 0: 4D scan (12, 12)",
        ),
        (
            lambda d: _cut(write_dm(d / "a.dm4", IMAGE[None], [(1.0, "")] * 3)),
            "{path}: cannot be read as DigitalMicrograph: unpack requires a buffer of 8 bytes (the "
            "file ends early?)",
        ),
    ],
)
def test_what_cannot_be_read_is_one_line_naming_the_file(tmp_path, make, message):
    path = make(tmp_path)
    if message is None:
        with pytest.raises(ReconstructError, match="data.format: RosettaSciIO's format for"):
            RsciioReader().read(path)
        return
    with pytest.raises(ReconstructError) as caught:
        RsciioReader().read(path)
    text = str(caught.value)
    assert text.startswith(message.format(path=path)) and "\n" not in text


def test_an_empad_xml_without_its_raw_file_is_one_line(tmp_path):
    path = write_empad(tmp_path / "scan.xml", np.zeros((1, 2, 128, 128)))
    path.with_suffix(".raw").unlink()
    with pytest.raises(ReconstructError, match=rf"^{re.escape(str(path))}: frames cannot be read"):
        RsciioReader().read(path)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"signal": True}, "signal must be an index (0, 1, ...) or a title; got True"),
        ({"signal": -1}, "signal must be an index (0, 1, ...) or a title; got -1"),
        ({"signal": 1.5}, "signal must be an index (0, 1, ...) or a title; got 1.5"),
        ({"format": 3}, "format must be a RosettaSciIO format's name; got 3"),
        ({"format": "nope"}, "format: RosettaSciIO has no format 'nope'; it has Arina, "),
    ],
)
def test_bad_arguments_are_refused_by_name(tmp_path, arguments, message):
    with pytest.raises(ReconstructError) as caught:
        read_data(tmp_path / "scan.mib", "rsciio", arguments)
    assert str(caught.value).startswith(f"config: data: the rsciio reader: {message}")


def test_an_unknown_key_names_the_reader_s_arguments(tmp_path):
    with pytest.raises(ReconstructError, match="its arguments: signal, format; every reader's"):
        read_data(tmp_path / "scan.mib", "rsciio", {"navigation_shape": [3, 4]})
