"""The adapter registry: versioned adapter directories under one root, shared by every replica.

`POST /v1/adapters` copies an artefact (a local directory or an s3:// or gs:// URI, under the
roots the app allows: sources.py) into `<root>/<name>@<version>/` with a fresh version, so a
reload never serves stale weights under an old name: replicas cache by the versioned id. "name"
alone means its latest version; directories written by jobs/train.py ("search", "understand")
are unversioned names, which the HTTP API neither shadows nor deletes. A delete moves the
directory to `<root>/.deleted/`, never removes it. Campaign adapters carry valid_from/valid_to and regions
(`registry.json`), and a request without an adapter gets the one active for its date and region.

Safety: ids are a short lowercase pattern (no slashes, no "..", never a path); only safetensors
weights are copied, and a source holding pickled weights (.bin, .pt, .pth, .ckpt, .pkl) is refused
whole; configs and safetensors headers are checked and sizes bounded before a version is
published; nothing loads with trust_remote_code.
"""

import datetime as dt
import json
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from safetensors import safe_open

from skutune.serve.cards import is_artefact
from skutune.serve.sources import SourcePolicy, SourceRefused, shown

NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,47}$")
ID = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_.-]{0,47})(@(?P<version>[0-9]{1,6}))?$")
META = "registry.json"
COPIED = (".safetensors", ".json", ".jsonl", ".md", ".txt")  # weights, configs, logs; nothing executable
PICKLED = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
RESERVED = {"base"}  # the app's name for "no adapter"
# upper bounds on a registered config's sizes: a larger one is a full model's memory per request
BOUNDS = {"r": 256, "lora_alpha": 4096, "num_virtual_tokens": 512, "size": 4096, "encoder_hidden_size": 8192}
DELETED = ".deleted"


class BadAdapter(ValueError):
    """A bad id or source (HTTP 400)."""


class Protected(BadAdapter):
    """A change to a trained (unversioned) adapter over HTTP (HTTP 409)."""


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
    def __init__(self, root: Path, sources: SourcePolicy):
        self.root, self.sources = Path(root).resolve(), sources
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

    def serving(self, ref: str | None, default: str, day: dt.date, region: str, campaigns: bool = True) -> Entry | None:
        """The entry a request is served by: its explicit id, else (with `campaigns`) the campaign
        active on `day` in `region`, else `default`; None if the id names nothing."""
        if ref:
            return self.resolve(ref)
        return (self.campaign(day, region) if campaigns else None) or self.resolve(default)

    def register(
        self,
        name: str,
        source: str,
        valid_from: dt.date | None = None,
        valid_to: dt.date | None = None,
        regions: list[str] | None = None,
    ) -> Entry:
        if not NAME.match(name) or ".." in name or name in RESERVED:
            raise BadAdapter(
                f"bad adapter name {name!r}: lowercase letters, digits, '_', '.', '-', at most 48; not {sorted(RESERVED)}"
            )
        if any(e.name == name and e.version is None for e in self.entries()):
            raise Protected(f"{name!r} is a trained adapter: register under another name")
        try:
            fs, files = self.sources.files(source)
        except SourceRefused as err:
            raise BadAdapter(str(err)) from err
        names = {Path(f.path).name for f in files}
        pickled = sorted(n for n in names if n.endswith(PICKLED))
        if pickled:
            raise BadAdapter(f"{shown(source)} holds pickled weights {pickled}: only safetensors are loaded")
        if not any(n.endswith(".safetensors") for n in names) or not names & {"adapter_config.json", "skutune.json"}:
            raise BadAdapter(
                f"{shown(source)} is not an adapter: it needs *.safetensors and adapter_config.json or skutune.json"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".incoming-{uuid.uuid4().hex}"  # not an id: never listed while it is written
        tmp.mkdir()
        try:
            for f in files:
                if f.path.endswith(COPIED):
                    with fs.open_input_stream(f.path) as src, open(tmp / Path(f.path).name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            check_contents(tmp)
            meta = {
                "source": shown(source),
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
        """Moves one version ("name@3") or every version of a name ("name") to `.deleted/`, where
        an operator can restore it; the ids removed. A trained (unversioned) adapter stays."""
        match = check_id(adapter_id)
        gone = [
            e
            for e in self.entries()
            if e.name == match["name"] and (not match["version"] or e.version == int(match["version"]))
        ]
        if any(e.version is None for e in gone):
            raise Protected(f"{match['name']!r} is a trained adapter: it is not deleted over HTTP")
        (self.root / DELETED).mkdir(exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        for e in gone:
            e.path.rename(self.root / DELETED / f"{e.id}.{stamp}.{uuid.uuid4().hex[:6]}")
        return [e.id for e in gone]


def check_contents(path: Path) -> None:
    """What a replica would load, checked before it is published: configs are JSON objects with
    sizes inside BOUNDS, and every safetensors file has a readable header."""
    for name in ("adapter_config.json", "skutune.json"):
        if (path / name).exists():
            try:
                config = json.loads((path / name).read_text())
            except (ValueError, RecursionError) as err:
                raise BadAdapter(f"{name} is not valid JSON") from err
            if not isinstance(config, dict):
                raise BadAdapter(f"{name} is not a JSON object")
            method = config.get("method") if isinstance(config.get("method"), dict) else {}
            for key, limit in BOUNDS.items():
                value = config.get(key, method.get(key))
                if value is not None and not (isinstance(value, int | float) and 0 < value <= limit):
                    raise BadAdapter(f"{name}: {key}={value!r} is outside (0, {limit}]")
    for weights in path.glob("*.safetensors"):
        try:
            with safe_open(weights, "pt") as f:
                f.keys()
        except Exception as err:  # safetensors raises its own SafetensorError for any bad header
            raise BadAdapter(f"{weights.name} is not a readable safetensors file: {err}") from err
