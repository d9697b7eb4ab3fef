"""ptyrax-rsciio: the `rsciio` data reader for `ptyrax reconstruct`.

Electron-microscopy files through RosettaSciIO: Merlin `.mib`, Gatan `.dm3`/`.dm4`, Velox
`.emd`, EMPAD `.xml` and blockfile `.blo` (and RosettaSciIO's other formats by name), the
frames read by range, the scan shape and step, the beam energy and the detector's sampling
from the files' metadata. GPL-3.0-or-later, as RosettaSciIO is.
"""

import ptyrax_core

from ._reader import FORMATS as FORMATS, RsciioReader as RsciioReader


@ptyrax_core.hookimpl
def ptyrax_readers():
    """The readers this plugin registers, each under its `registry_name`."""
    return [RsciioReader]
