"""What support may see of an FTP backup space (P9, in P13's spirit): how many files it holds
and how many bytes they take, and nothing about one file or folder (no name, no date, no size
of its own).

    >>> FtpSpaceSizes("svc_1", files=3, bytes=1536).bytes
    1536
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SpaceTotals:
    """Totals over every regular file under a space's directory (symbolic links are neither
    followed nor counted)."""

    files: int
    bytes: int


EMPTY = SpaceTotals(0, 0)


@dataclass(frozen=True, slots=True)
class FtpSpaceSizes:
    """A space's totals as support sees them: its service id, and two numbers."""

    service_id: str
    files: int
    bytes: int
