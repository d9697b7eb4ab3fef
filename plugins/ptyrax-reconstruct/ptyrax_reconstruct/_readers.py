"""Data readers: a kind of class plugins contribute, chosen by the config's `[data]` table.

A reader turns a file (or a folder) into the engine's `Scan`. The config names it
(`[data] reader = "cxi"`) or leaves it to the file's name ending (`suffixes`); the table's
other keys, besides `file`, are the reader's own arguments.
"""

import abc
import inspect
import pathlib
from typing import Any, ClassVar

import ptyrax_core

from ._cxi import Scan, read_cxi
from ._errors import ReconstructError


class Reader(abc.ABC):
    """Reads a scan: subclass it with a snake_case class attribute `registry_name`, the
    name endings it opens by default (`suffixes`, such as `(".cxi",)`), its arguments as
    constructor arguments (the config's `[data]` keys) and `read(path)`.

    `read` returns a `Scan` whose frames are read when asked, by range (`Scan.source`), so
    that a process reads only its share; errors are `ReconstructError`s of one line that
    name the file and what in it is wrong.
    """

    registry_name: ClassVar[str]
    suffixes: ClassVar[tuple[str, ...]] = ()

    @abc.abstractmethod
    def read(self, path: pathlib.Path) -> Scan:
        """The scan in `path`."""


READERS = ptyrax_core.Kind(
    "readers", "reader", Reader, template="ptyrax_reconstruct:templates/readers"
)
"""The kind: plugins contribute readers through the hook `ptyrax_readers` and declare them
in the entry-point group `ptyrax.readers`."""


class CxiReader(Reader):
    """CXI files (HDF5, https://www.cxidb.org/cxi.html): frames, translations, mask,
    wavelength or energy, distance, pixel sizes and basis vectors, as `read_cxi` reads them."""

    registry_name: ClassVar[str] = "cxi"
    suffixes: ClassVar[tuple[str, ...]] = (".cxi",)

    def read(self, path: pathlib.Path) -> Scan:
        return read_cxi(path)


def read_data(
    path: pathlib.Path,
    reader: str | None,
    arguments: dict[str, Any],
    require: bool = True,
    length_unit: str = "m",
) -> Scan:
    """The scan in `path`, read by the reader named `reader` (None: the installed reader
    whose `suffixes` end the file's name) made with `arguments`, the calibration and
    positions among them (`_calibration.KEYS`) given or replaced for every reader; with
    `require`, checked complete (else what neither gives stays None). The config's lengths
    are in `length_unit`.

    Raises:
        ReconstructError: no installed reader of that name (or for that name ending), the
            reader does not take `arguments`, it cannot read the file, or the scan lacks
            what neither the file nor the config gives.
    """
    from ._calibration import KEYS, complete

    given = {k: v for k, v in arguments.items() if k in KEYS}
    arguments = {k: v for k, v in arguments.items() if k not in KEYS}
    return complete(_read(path, reader, arguments), given, require, length_unit)


def _read(path: pathlib.Path, reader: str | None, arguments: dict[str, Any]) -> Scan:
    registry = ptyrax_core.registry
    if reader is None:
        name = path.name.lower()
        by_suffix = [
            n
            for n in registry.names(READERS.plural)
            if name.endswith(registry.get(n, READERS.plural).suffixes)
        ]
        if not by_suffix:
            raise ReconstructError(
                f"config: data.reader: no installed reader opens {path.name!r} by its name; "
                f"name one (installed: {', '.join(registry.names(READERS.plural))})"
            )
        if len(by_suffix) > 1:
            raise ReconstructError(
                f"config: data.reader: {len(by_suffix)} installed readers open {path.name!r} "
                f"by its name ({', '.join(by_suffix)}); name one"
            )
        reader = by_suffix[0]
    try:
        cls = registry.get(reader, READERS.plural)
    except KeyError as e:
        raise ReconstructError(f"config: data.reader: {' '.join(str(e).split())}") from None
    takes = [
        p.name
        for p in inspect.signature(cls).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    unknown = sorted(set(arguments) - set(takes))
    if unknown:
        from ._calibration import KEYS

        raise ReconstructError(
            f"config: data.{unknown[0]}: the {reader} reader takes no such argument; its "
            f"arguments: {', '.join(takes) or 'none'}; every reader's: {', '.join(KEYS)}"
        )
    try:
        made = cls(**arguments)
    except (TypeError, ValueError) as e:
        raise ReconstructError(f"config: data: the {reader} reader: {e}") from None
    scan = made.read(path)
    if not isinstance(scan, Scan):
        raise ReconstructError(
            f"config: data.reader: {reader} returned {type(scan).__name__}, not a Scan"
        )
    return scan
