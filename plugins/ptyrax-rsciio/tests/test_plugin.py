"""The plugin: registered as a reader, opened by its name endings, GPL-3.0-or-later."""

import importlib.metadata

from ptyrax_reconstruct import Reader
from ptyrax_rsciio import FORMATS, RsciioReader

import ptyrax_core
from ptyrax_core._firstparty import provider


def test_registered_as_a_reader_and_declared_without_importing():
    assert ptyrax_core.registry.get("rsciio", "readers") is RsciioReader
    assert issubclass(RsciioReader, Reader)
    declared = importlib.metadata.entry_points(group="ptyrax.readers")
    assert {e.name: e.value for e in declared}["rsciio"] == "ptyrax_rsciio:RsciioReader"
    assert provider("rsciio") == "ptyrax-rsciio"  # an uninstalled one says what to install


def test_it_opens_the_formats_by_name_ending():
    assert RsciioReader.suffixes == (".mib", ".dm3", ".dm4", ".emd", ".xml", ".blo")
    assert set(FORMATS.values()) == {
        "QuantumDetector",
        "DigitalMicrograph",
        "EMD",
        "EMPAD",
        "Blockfile",
    }


def test_the_distribution_is_gpl_as_rosettasciio_is():
    dist = importlib.metadata.distribution("ptyrax-rsciio")
    assert dist.metadata["License-Expression"] == "GPL-3.0-or-later"
    rosettasciio = importlib.metadata.distribution("rosettasciio").metadata
    assert rosettasciio["License-Expression"] == "GPL-3.0-or-later"
    (licence,) = [f for f in dist.files if f.name == "LICENSE" and "dist-info" in str(f)]
    text = licence.read_text()
    assert text.lstrip().startswith("GNU GENERAL PUBLIC LICENSE\n                       Version 3")
    assert "END OF TERMS AND CONDITIONS" in text
