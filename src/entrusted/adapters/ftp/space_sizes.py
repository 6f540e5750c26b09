# ruff: noqa: PTH118 - os.path.join on bytes paths, for speed (no pathlib object per entry)
"""The `FtpSpaceReader` over the local file system: a space's file count and total size
(P9, in P13's spirit), for support, without one name leaving this module.

The walk uses `os.scandir` on bytes paths (no name is decoded, so none can be mistaken for
text or end up in an error message), never follows a symbolic link (a link to another
customer's space counts for nothing: it is neither a file here nor a directory to enter) and
counts regular files only, by their size as the file system reports it (`st_size`).
A file or directory that vanishes mid-walk (the customer deleting it) is skipped; any other
error fails the whole look (`Unavailable`) rather than report totals that are too small.
"""

from __future__ import annotations

import os

from entrusted.domain.ftp_space import EMPTY, SpaceTotals
from entrusted.errors import Unavailable


class FileSystemSpaceReader:
    """```python
    totals = FileSystemSpaceReader().totals("/srv/ftp/office-backup")
    totals.files, totals.bytes
    ```
    """

    def totals(self, root: str) -> SpaceTotals:
        """Totals of every regular file under `root`; EMPTY when `root` does not exist (the
        server makes a space's directory at its first login)."""
        top = os.fsencode(root)
        if not os.path.lexists(top):
            return EMPTY
        files = size = 0
        pending = [top]
        try:
            while pending:
                directory = pending.pop()
                try:
                    listing = os.scandir(directory)
                except FileNotFoundError:
                    continue  # removed while we walked: it holds nothing now
                with listing:
                    for entry in listing:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(os.path.join(directory, entry.name))
                        elif entry.is_file(follow_symlinks=False):
                            try:
                                size += entry.stat(follow_symlinks=False).st_size
                            except FileNotFoundError:
                                continue
                            files += 1
        except OSError as exc:
            # The errno only: the path would name the customer's folders.
            raise Unavailable(f"the FTP space could not be read (errno {exc.errno})") from None
        return SpaceTotals(files, size)
