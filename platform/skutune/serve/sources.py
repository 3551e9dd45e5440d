"""Where `POST /v1/adapters` may copy an adapter from, and how much it may copy.

A client's source is a local directory under one of the app's `register_sources` roots, or a
URI under one of its s3:// or gs:// prefixes. The remote filesystem is built here from the
scheme alone, with the app's endpoint and time-outs: pyarrow's `FileSystem.from_uri` honours
`?endpoint_override=` and `scheme=` inside the URI, so a client could make the replica send
signed requests, with the server's credentials, to any host. Query strings, fragments,
userinfo and ".." are refused outright; symlinks are never followed; files and bytes are capped.
"""

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

REMOTE = ("s3", "gs")


class SourceRefused(ValueError):
    """A source outside the allowed roots, or one that asks for more than the caps (HTTP 400)."""


def shown(source: str) -> str:
    """A source as it may be stored, echoed and logged: without credentials or a query."""
    return re.sub(r"//[^/@]*@", "//", source.split("?", 1)[0].split("#", 1)[0])


@dataclass(frozen=True)
class SourcePolicy:
    roots: tuple[str, ...]  # local directories, and s3:// or gs:// prefixes
    endpoint: str | None = None  # an S3-compatible store's host:port, fixed by the app
    max_files: int = 64
    max_bytes: int = 2 << 30
    timeout_s: float = 60

    def files(self, source: str) -> tuple[pafs.FileSystem, list[pafs.FileInfo]]:
        """(filesystem, the source's plain files), or SourceRefused saying why."""
        if any(c in source for c in "?#") or "\x00" in source:
            raise SourceRefused(f"source {shown(source)!r}: query strings and fragments are not accepted")
        parts = urlsplit(source)
        if parts.username or parts.password or "@" in parts.netloc:
            raise SourceRefused(f"source {shown(source)!r}: credentials in a source are not accepted")
        if ".." in source.split("/"):
            raise SourceRefused(f"source {shown(source)!r}: '..' is not accepted")
        if parts.scheme in REMOTE:
            return self._remote(source, parts)
        if parts.scheme == "file" and parts.netloc in ("", "localhost"):
            source = parts.path
        elif "://" in source:
            raise SourceRefused(f"source {shown(source)!r}: scheme {parts.scheme!r} is not one of file, s3, gs")
        return self._local(source)

    def _local(self, source: str):
        if not Path(source).is_absolute():
            raise SourceRefused(f"source {source!r} must be an absolute path or a URI")
        path = Path(source).resolve()
        roots = [Path(r).resolve() for r in self.roots if "://" not in r]
        if not any(path.is_relative_to(r) for r in roots):
            raise SourceRefused(
                f"source {source!r} is outside the directories adapters may be registered from "
                f"({[str(r) for r in roots]}; the app's register_sources)"
            )
        if not path.is_dir():
            raise SourceRefused(f"cannot read {source!r}: not a directory")
        entries = list(os.scandir(path))
        if any(e.is_symlink() for e in entries):
            raise SourceRefused(f"source {source!r} holds symlinks: they are not followed")
        fs = pafs.LocalFileSystem()
        return fs, self._capped(source, fs.get_file_info([e.path for e in entries if e.is_file()]))

    def _remote(self, source: str, parts):
        allowed = [r.rstrip("/") + "/" for r in self.roots if r.startswith(f"{parts.scheme}://")]
        if not any((source.rstrip("/") + "/").startswith(r) for r in allowed):
            raise SourceRefused(
                f"source {source!r} is not under an allowed {parts.scheme}:// prefix (the app's register_sources)"
            )
        if parts.scheme == "s3":
            fs = pafs.S3FileSystem(
                endpoint_override=self.endpoint, connect_timeout=self.timeout_s, request_timeout=self.timeout_s
            )
        else:
            fs = pafs.GcsFileSystem(
                endpoint_override=self.endpoint, retry_time_limit=dt.timedelta(seconds=self.timeout_s)
            )
        try:
            infos = fs.get_file_info(pafs.FileSelector(parts.netloc + parts.path, recursive=False))
        except (ValueError, OSError) as err:  # pyarrow's ArrowInvalid is a ValueError
            raise SourceRefused(f"cannot read {source!r}: {err}") from err
        return fs, self._capped(source, [f for f in infos if f.type == pafs.FileType.File])

    def _capped(self, source: str, files: list[pafs.FileInfo]) -> list[pafs.FileInfo]:
        if len(files) > self.max_files:
            raise SourceRefused(f"source {shown(source)!r} holds {len(files)} files; at most {self.max_files}")
        size = sum(f.size or 0 for f in files)
        if size > self.max_bytes:
            raise SourceRefused(f"source {shown(source)!r} holds {size} bytes; at most {self.max_bytes}")
        return files
