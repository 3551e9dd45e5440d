"""Runs in object storage: `run.output_dir` may be a pyarrow filesystem URI (s3://, gs://, hdfs://,
abfs://). A stage works in a local mirror of the run directory: it downloads the run before it
starts and uploads what it wrote when it ends, so the next stage may run on another machine.
Ray Train's checkpoints go straight to `<uri>/ray` (its storage takes URIs), so a lost node
loses none of them.

The index, the parse cache and the adapter registry may live in buckets of their own (index.dir,
serve.adapters_dir; the Serve app's index, parse_cache, adapters_dir). A Serve replica downloads
them when it starts and then follows them (the app's catalog and store profile are fetched once,
`get`): the version a CURRENT file names (`follow`), the
registry's new and changed files (`download(changed_only=True)`). Uploads write the files that
make a version or an adapter visible (LAST) after the rest, so a follower never takes half of one.

Credentials and endpoints come from the environment, as pyarrow reads them (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, GOOGLE_APPLICATION_CREDENTIALS, ...). A URI carrying
credentials or query options is refused, so that none is written to a config or a log.
"""

import os
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

# not mirrored: what Ray's tasks read and write in the bucket itself (JobConfig.shared): curate's
# scratch checkpoints (RunDir.work), the tokenized Parquet that train reads there, and Ray Train's storage
IN_BUCKET_ONLY = ("curate", "data/train", "ray")
SAFE = re.compile(r"^[A-Za-z0-9._/-]+$")
# a reader takes these as "the rest is complete": an index's or parse cache's CURRENT, an adapter's
# metadata (serve/cards.is_artefact)
LAST = {"CURRENT", "skutune.json", "adapter_config.json"}


def is_uri(path) -> bool:
    """A filesystem URI other than a local file:// one."""
    return "://" in str(path) and not str(path).startswith("file://")


def check_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"{parts.scheme}:// URI: no credentials or ?options in it; the environment sets them")
    path = parts.netloc + parts.path
    if not parts.netloc or not SAFE.match(path) or {".", ".."} & set(path.split("/")):
        raise ValueError(f"{uri!r}: a URI of a bucket and a path of letters, digits, . _ / and - (no . or ..)")
    return uri.rstrip("/")


def _listing(fs, root: str) -> dict[str, pafs.FileInfo]:
    """The plain files under `root`, by path relative to it, without the IN_BUCKET_ONLY folders."""
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return {}
    found = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    rel = {info.path[len(root) :].lstrip("/"): info for info in found if info.type == pafs.FileType.File}
    return {r: info for r, info in rel.items() if not r.startswith(tuple(f"{d}/" for d in IN_BUCKET_ONLY))}


def _files(fs, root: str, since: float = 0.0) -> list[str]:
    """Paths under `root` modified at or after `since` (epoch seconds), relative to it."""
    listed = _listing(fs, root)
    return [r for r in listed if not since or listed[r].mtime.timestamp() >= since]


def _copy(src_fs, src: str, dst_fs, dst: str, files: list[str]) -> int:
    for rel in sorted(files, key=lambda r: r.rsplit("/", 1)[-1] in LAST):  # the markers last
        dst_fs.create_dir(f"{dst}/{rel}".rsplit("/", 1)[0], recursive=True)
        pafs.copy_files(f"{src}/{rel}", f"{dst}/{rel}", source_filesystem=src_fs, destination_filesystem=dst_fs)
    return len(files)


def _stale(local: Path, info: pafs.FileInfo) -> bool:
    """`local` lacks the file, or holds another size, or an older copy."""
    if not local.exists():
        return True
    mine = local.stat()
    # (object stores keep times to the second: a change within a second of the copy is missed)
    return mine.st_size != info.size or mine.st_mtime < info.mtime.timestamp()


def download(uri: str, local: Path, changed_only: bool = False) -> int:
    """The run at `uri` into `local` (files already there are replaced; with `changed_only`, only
    new files and ones changed since they were copied); returns files copied."""
    fs, root = pafs.FileSystem.from_uri(check_uri(uri))
    listed = _listing(fs, root)
    files = [r for r in listed if not changed_only or _stale(local / r, listed[r])]
    return _copy(fs, root, pafs.LocalFileSystem(), str(local), files)


def upload(local: Path, uri: str, since: float = 0.0) -> int:
    """`local` (the run's mirror) to `uri`, only files written since `since` (a stage's start:
    what it only downloaded is in the bucket already); returns files copied."""
    fs, root = pafs.FileSystem.from_uri(check_uri(uri))
    here = pafs.LocalFileSystem()
    return _copy(here, str(local), fs, root, _files(here, str(local), since) if local.exists() else [])


def filesystem(path: str | Path) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path in it) for a local path or a URI."""
    if is_uri(path):
        return pafs.FileSystem.from_uri(check_uri(str(path)))
    return pafs.LocalFileSystem(), str(Path(path).resolve())


def remove(path: str | Path) -> None:
    """A directory, on this machine or in object storage, deleted if it is there."""
    fs, root = filesystem(path)
    if fs.get_file_info(root).type != pafs.FileType.NotFound:
        fs.delete_dir(root)


def put(local: Path, uri: str) -> int:
    """A file or a directory of this machine to `uri`; returns files copied."""
    if local.is_dir():
        return upload(local, uri)
    fs, dst = pafs.FileSystem.from_uri(check_uri(uri))
    fs.create_dir(dst.rsplit("/", 1)[0], recursive=True)
    pafs.copy_files(str(local), dst, destination_filesystem=fs)
    return 1


def get(uri: str, local: Path) -> Path:
    """A file in object storage copied to `local` on this machine, whole or not at all (written
    beside it and renamed: two replicas of one node may fetch it at once)."""
    fs, src = pafs.FileSystem.from_uri(check_uri(uri))
    if fs.get_file_info(src).type != pafs.FileType.File:
        raise FileNotFoundError(f"no file at {uri}")
    local.parent.mkdir(parents=True, exist_ok=True)
    part = local.with_name(f".{local.name}.{os.getpid()}-{threading.get_ident()}.part")
    pafs.copy_files(src, str(part), source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
    os.replace(part, local)
    return local


def uri_checked(value: str | None) -> str | None:
    """A config value that may be a URI, with check_uri applied where it is one (a validator)."""
    return check_uri(value) if value and is_uri(value) else value


def read_text(path: str | Path) -> str:
    """A text file's contents, on this machine or in object storage."""
    fs, where = filesystem(path)
    with fs.open_input_stream(where) as f:
        return f.read().decode("utf-8")


def follow(uri: str, local: Path) -> bool:
    """A versioned directory in object storage (CURRENT names the live version: the index, the
    parse cache) kept on this machine: the version CURRENT names is downloaded if `local` lacks
    it, then the local CURRENT is moved to it. True when it moved."""
    fs, root = pafs.FileSystem.from_uri(check_uri(uri))
    if fs.get_file_info(f"{root}/CURRENT").type != pafs.FileType.File:
        return False
    with fs.open_input_stream(f"{root}/CURRENT") as f:
        version = f.read(256).decode().strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", version) or version in {".", ".."}:
        raise ValueError(f"{uri}/CURRENT names {version[:64]!r}, not a version directory")
    pointer = local / "CURRENT"
    if pointer.exists() and pointer.read_text().strip() == version:
        return False
    src = f"{root}/{version}"
    _copy(fs, src, pafs.LocalFileSystem(), str(local / version), _files(fs, src))
    tmp = local / "CURRENT.tmp"
    tmp.write_text(version)
    tmp.replace(pointer)  # atomically, as the index's make_live: a reader sees the old version or the new
    return True
