"""Dump files in an S3-compatible object store (AWS S3, MinIO, Ceph...), seen by every node.

boto3 is the `s3` extra's: imported only when a bucket is configured.
"""
from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator

from service.storage.atomic import DumpStore, StoredFile

#: Bytes a dump is staged in memory before it spills to a temporary file.
_SPOOL = 8 * 1024 * 1024


class ObjectStore:
    """Scheduled dumps as objects ``<prefix><account>/<name>`` of one bucket.

    A dump is staged locally and uploaded when complete: an object is created whole
    or not at all, so a reader never sees half a dump (as with DumpStore's files).
    """

    def __init__(self, bucket: str, client, prefix: str = "dumps/") -> None:
        self.bucket = bucket
        self.client = client
        self.prefix = prefix

    def _key(self, account_id: int, name: str) -> str:
        if "/" in name or name.startswith("."):
            raise ValueError(f"not a dump file name: {name!r}")
        return f"{self.prefix}{account_id}/{name}"

    @contextlib.contextmanager
    def new_file(self, account_id: int, name: str) -> Iterator[BinaryIO]:
        key = self._key(account_id, name)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as staged:
            yield staged
            staged.seek(0)
            self.client.upload_fileobj(staged, self.bucket, key)

    def open(self, account_id: int, name: str) -> StoredFile | None:
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=self._key(account_id, name))
        except self.client.exceptions.NoSuchKey:
            return None
        return StoredFile(found["Body"], found["ContentLength"])


def make_dump_store(data_dir: Path, bucket: str = "", endpoint_url: str = ""):
    """Where scheduled dumps go: the bucket when one is named, else ``data_dir/dumps``."""
    if not bucket:
        return DumpStore(data_dir / "dumps")
    import boto3  # the s3 extra
    client = boto3.client("s3", endpoint_url=endpoint_url or None)
    return ObjectStore(bucket, client)
