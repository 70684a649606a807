"""Files that appear complete or not at all."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Write ``path`` so that a reader (or a crash) never sees it half-written.

    The data goes into an unnamed file (O_TMPFILE) in the same directory, which
    is fsynced and only then given a name: a process killed half way leaves no
    file behind at all, not even a temporary one.
    """
    directory = path.resolve().parent
    fd = os.open(directory, os.O_TMPFILE | os.O_WRONLY, 0o640)
    with open(fd, "wb", closefd=True) as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        staging = directory / f".{path.name}.{os.getpid()}.tmp"
        # linkat(AT_SYMLINK_FOLLOW) through /proc names the open file (a plain
        # link() of /proc/self/fd/N would try to link the magic symlink itself).
        proc = os.open("/proc/self/fd", os.O_RDONLY)
        try:
            os.link(str(handle.fileno()), staging, src_dir_fd=proc, follow_symlinks=True)
        finally:
            os.close(proc)
    os.replace(staging, path)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@contextlib.contextmanager
def scratch_file(directory: Path) -> Iterator[tuple[BinaryIO, str]]:
    """An unnamed file (O_TMPFILE) in ``directory``, open for reading and writing, and the
    path by which another process opens it while this one holds it (/proc/PID/fd/N).
    It never has a name: nothing is left behind, whatever ends the processes."""
    fd = os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
    with open(fd, "r+b") as handle:
        yield handle, f"/proc/{os.getpid()}/fd/{fd}"


class StoredFile(NamedTuple):
    """A stored dump file opened for reading: its bytes and how many there are."""

    stream: BinaryIO
    size: int


class DumpStore:
    """Where scheduled dumps and their manifests are kept: one folder per account (the
    embedded default; service.storage.objects.ObjectStore keeps them in a bucket)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, account_id: int, name: str) -> Path:
        if "/" in name or name.startswith("."):
            raise ValueError(f"not a dump file name: {name!r}")
        return self.root / str(account_id) / name

    def open(self, account_id: int, name: str) -> StoredFile | None:
        path = self.path(account_id, name)
        if not path.is_file():
            return None
        return StoredFile(open(path, "rb"), path.stat().st_size)

    @contextlib.contextmanager
    def new_file(self, account_id: int, name: str) -> Iterator[BinaryIO]:
        path = self.path(account_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as handle:
            yield handle
