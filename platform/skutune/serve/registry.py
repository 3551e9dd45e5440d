"""The adapter registry: versioned adapter directories under one root, shared by every replica.

`POST /v1/adapters` copies an artefact (a local directory or any URI pyarrow's filesystems
read: file://, s3://, gs://, hdfs://) into `<root>/<name>@<version>/` with a fresh version, so a
reload never serves stale weights under an old name: replicas cache by the versioned id. "name"
alone means its latest version; directories written by jobs/train.py ("search", "understand")
are unversioned names. Campaign adapters carry valid_from/valid_to and regions
(`registry.json`), and a request without an adapter gets the one active for its date and region.

Safety: ids are a short lowercase pattern (no slashes, no "..", never a path); only safetensors
weights are copied, and a source holding pickled weights (.bin, .pt, .pth, .ckpt, .pkl) is refused
whole; nothing loads with trust_remote_code.
"""

import datetime as dt
import json
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from skutune.serve.cards import is_artefact

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,47}$")
ID = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_.-]{0,47})(@(?P<version>[0-9]{1,6}))?$")
META = "registry.json"
COPIED = (".safetensors", ".json", ".jsonl", ".md", ".txt")  # weights, configs, logs; nothing executable
PICKLED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


class BadAdapter(ValueError):
    """A bad id or source (HTTP 400)."""


@dataclass(frozen=True)
class Entry:
    id: str  # "diwali-tv@3", or "search" for an unversioned directory
    name: str
    version: int | None
    path: Path
    meta: dict

    def active(self, day: dt.date, region: str) -> bool:
        """A campaign adapter on `day` in `region` (adapters without a schedule never are)."""
        start, end = self.meta.get("valid_from"), self.meta.get("valid_to")
        if not start and not end:
            return False
        regions = self.meta.get("regions") or []
        return (
            (not start or dt.date.fromisoformat(start) <= day)
            and (not end or day <= dt.date.fromisoformat(end))
            and (not regions or region in regions)
        )

    def public(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            **{k: self.meta.get(k) for k in ("valid_from", "valid_to", "regions", "source", "registered_at")},
        }


def check_id(adapter_id: str) -> re.Match:
    match = ID.match(adapter_id) if isinstance(adapter_id, str) else None
    if match is None or ".." in adapter_id:
        raise BadAdapter(
            f"bad adapter id {adapter_id!r}: lowercase letters, digits, '_', '.', '-' and an optional "
            "'@<version>'; never a path"
        )
    return match


class Registry:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self._listed: tuple[int, list[Entry]] = (-1, [])  # (root's mtime, its entries)

    def entries(self) -> list[Entry]:
        """Listed again only when the root's mtime moves: every register (a rename into it) and
        delete (a removal from it) moves it, and requests resolve adapters on every call."""
        if not self.root.exists():
            return []
        mtime = self.root.stat().st_mtime_ns
        if self._listed[0] != mtime:
            self._listed = (mtime, self._scan())
        return self._listed[1]

    def _scan(self) -> list[Entry]:
        out = []
        for path in sorted(self.root.iterdir()):
            match = ID.match(path.name)
            if match and path.is_dir() and is_artefact(path):
                meta = json.loads((path / META).read_text()) if (path / META).exists() else {}
                version = match["version"]
                out.append(Entry(path.name, match["name"], int(version) if version else None, path, meta))
        return out

    def resolve(self, adapter_id: str) -> Entry | None:
        """The entry an id names ("name" is its latest version), or None; BadAdapter if the id is unsafe."""
        match = check_id(adapter_id)
        same = [e for e in self.entries() if e.name == match["name"]]
        if match["version"]:
            return next((e for e in same if e.version == int(match["version"])), None)
        return max(same, key=lambda e: e.version or 0, default=None)

    def campaign(self, day: dt.date, region: str) -> Entry | None:
        """The latest version of the campaign active on `day` in `region`; of several, the one that
        started last (a regional Diwali sale inside a season-long campaign wins), then by name."""
        latest = {}
        for e in self.entries():
            if e.name not in latest or (e.version or 0) > (latest[e.name].version or 0):
                latest[e.name] = e
        live = [e for e in latest.values() if e.active(day, region)]
        return max(live, key=lambda e: (e.meta.get("valid_from") or "", e.name), default=None)

    def register(
        self,
        name: str,
        source: str,
        valid_from: dt.date | None = None,
        valid_to: dt.date | None = None,
        regions: list[str] | None = None,
    ) -> Entry:
        if not NAME.match(name):
            raise BadAdapter(f"bad adapter name {name!r}: lowercase letters, digits, '_', '.', '-', at most 48")
        fs, files = _files(source)
        names = {Path(f.path).name for f in files}
        pickled = sorted(n for n in names if n.endswith(PICKLED))
        if pickled:
            raise BadAdapter(f"{source} holds pickled weights {pickled}: only safetensors are loaded")
        if not any(n.endswith(".safetensors") for n in names) or not names & {"adapter_config.json", "skutune.json"}:
            raise BadAdapter(
                f"{source} is not an adapter: it needs *.safetensors and adapter_config.json or skutune.json"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".incoming-{uuid.uuid4().hex}"  # not an id: never listed while it is written
        tmp.mkdir()
        try:
            for f in files:
                if f.path.endswith(COPIED):
                    with fs.open_input_stream(f.path) as src, open(tmp / Path(f.path).name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            meta = {
                "source": source,
                "registered_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "valid_from": valid_from and valid_from.isoformat(),
                "valid_to": valid_to and valid_to.isoformat(),
                "regions": regions or [],
            }
            (tmp / META).write_text(json.dumps(meta, indent=2))
            return self._publish(tmp, name, meta)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _publish(self, tmp: Path, name: str, meta: dict) -> Entry:
        """Rename into the next free version: atomic, and two replicas registering at once get two versions."""
        for _ in range(100):
            version = 1 + max((e.version or 0 for e in self.entries() if e.name == name), default=0)
            path = self.root / f"{name}@{version}"
            try:
                tmp.rename(path)
            except OSError:  # another replica took this version first
                time.sleep(0.01)
                continue
            return Entry(path.name, name, version, path, meta)
        raise RuntimeError(f"could not publish a version of {name}")

    def delete(self, adapter_id: str) -> list[str]:
        """Removes one version ("name@3") or every version of a name ("name"); the ids removed."""
        match = check_id(adapter_id)
        gone = [
            e
            for e in self.entries()
            if e.name == match["name"] and (not match["version"] or e.version == int(match["version"]))
        ]
        for e in gone:
            shutil.rmtree(e.path)
        return [e.id for e in gone]


def _files(source: str):
    """(filesystem, the source's plain files) for a local absolute path or a pyarrow URI."""
    if "://" not in source and not Path(source).is_absolute():
        raise BadAdapter(f"source {source!r} must be an absolute path or a URI")
    try:
        fs, base = pafs.FileSystem.from_uri(source) if "://" in source else (pafs.LocalFileSystem(), source)
        infos = fs.get_file_info(pafs.FileSelector(base, recursive=False))
    except (ValueError, OSError) as err:  # pyarrow's ArrowInvalid is a ValueError
        raise BadAdapter(f"cannot read {source!r}: {err}") from err
    return fs, [f for f in infos if f.type == pafs.FileType.File]
