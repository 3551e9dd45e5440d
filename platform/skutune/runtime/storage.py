"""Runs in object storage: `run.output_dir` may be a pyarrow filesystem URI (s3://, gs://, hdfs://,
abfs://). A stage works in a local mirror of the run directory: it downloads the run before it
starts and uploads what it wrote when it ends, so the next stage may run on another machine.
Ray Train's checkpoints go straight to `<uri>/ray` (its storage takes URIs), so a lost node
loses none of them.

Credentials and endpoints come from the environment, as pyarrow reads them (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, GOOGLE_APPLICATION_CREDENTIALS, ...). A URI carrying
credentials or query options is refused, so that none is written to a config or a log.
"""

import re
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from skutune.runtime.paths import runs_dir

# not mirrored: curate's scratch checkpoints (rewritten by every curate) and Ray Train's storage,
# which is the URI itself
LOCAL_ONLY = {"work", "ray"}
SAFE = re.compile(r"^[A-Za-z0-9._/-]+$")


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


def mirror_of(uri: str) -> Path:
    """Where a run in object storage is worked on, on this machine: runs/remote/<scheme>/<bucket>/<path>."""
    parts = urlsplit(check_uri(uri))
    return runs_dir() / "remote" / parts.scheme / parts.netloc / parts.path.strip("/")


def _files(fs, root: str, since: float = 0.0) -> list[str]:
    """Paths under `root` modified at or after `since` (epoch seconds), relative to it, without the
    LOCAL_ONLY folders."""
    if fs.get_file_info(root).type == pafs.FileType.NotFound:
        return []
    found = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    rel = [
        info.path[len(root) :].lstrip("/")
        for info in found
        if info.type == pafs.FileType.File and (not since or info.mtime.timestamp() >= since)
    ]
    return [r for r in rel if r.split("/", 1)[0] not in LOCAL_ONLY]


def _copy(src_fs, src: str, dst_fs, dst: str, files: list[str]) -> int:
    for rel in files:
        dst_fs.create_dir(f"{dst}/{rel}".rsplit("/", 1)[0], recursive=True)
        pafs.copy_files(f"{src}/{rel}", f"{dst}/{rel}", source_filesystem=src_fs, destination_filesystem=dst_fs)
    return len(files)


def download(uri: str, local: Path) -> int:
    """The run at `uri` into `local` (files already there are replaced); returns files copied."""
    fs, root = pafs.FileSystem.from_uri(check_uri(uri))
    return _copy(fs, root, pafs.LocalFileSystem(), str(local), _files(fs, root))


def upload(local: Path, uri: str, since: float = 0.0) -> int:
    """`local` (the run's mirror) to `uri`, only files written since `since` (a stage's start:
    what it only downloaded is in the bucket already); returns files copied."""
    fs, root = pafs.FileSystem.from_uri(check_uri(uri))
    here = pafs.LocalFileSystem()
    return _copy(here, str(local), fs, root, _files(here, str(local), since) if local.exists() else [])
