"""tox's inline plugin for this project: environments share identical files on disk.

Each environment installs jax, jaxlib and scipy (about 640 MB), so the 22 of ``tox run``
would take 13 GB. After an environment runs, each of its files (but empty ones)
becomes a hard link to one copy under ``.tox/.shared`` (keyed by content and mode), and
copies no environment uses any more are dropped: a whole run needs about one
environment's worth of disk. Installers replace files rather than write into them, so
a shared file never changes under another environment.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from tox.plugin import impl


def _digest(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=20)
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def share_files(root: Path, store: Path) -> int:
    """Hard-link ``root``'s files to one copy each in ``store``; bytes freed."""
    store.mkdir(parents=True, exist_ok=True)
    freed = 0
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder, name)
            info = path.lstat()
            if not stat.S_ISREG(info.st_mode) or info.st_size == 0 or info.st_nlink > 1:
                continue  # a symlink, empty, or already shared
            shared = store / f"{_digest(path)}-{stat.S_IMODE(info.st_mode):o}"
            try:
                if not shared.exists():
                    os.link(path, shared)
                    continue
                staged = path.with_name(f".{name}.shared")
                os.link(shared, staged)
                os.replace(staged, path)
                freed += info.st_size
            except OSError:  # another file system, or no hard links there: keep the copy
                continue
    return freed


def drop_unused(store: Path) -> None:
    """Remove the copies in ``store`` that no environment links to."""
    for shared in store.iterdir() if store.is_dir() else ():
        if shared.lstat().st_nlink == 1:
            shared.unlink()


@impl
def tox_env_teardown(tox_env) -> None:
    store = Path(tox_env.core["work_dir"]) / ".shared"
    share_files(Path(tox_env.env_dir), store)
    drop_unused(store)
