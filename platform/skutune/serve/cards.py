"""Request-side helpers for the Serve app: which artefacts share the base, and turning a model's answer into
product cards from the catalog. SKUs that are not in the catalog are dropped and counted."""

import hashlib
import json
from pathlib import Path

BASE = "base"  # the adapter id that means "no adapter"


def is_artefact(path: Path) -> bool:
    """A trained method's output: skutune's metadata, or a plain peft adapter directory."""
    return (path / "skutune.json").exists() or (path / "adapter_config.json").exists()


def stamp(path: Path) -> tuple:
    """What identifies the files an adapter loads from: name, inode, size and mtime of each. A
    retrained adapter is a new directory renamed into place (new inodes), and a registry mirror
    rewrites the files (new sizes or times): either moves the stamp. A few stats per request."""
    out = []
    try:
        for f in sorted(Path(path).iterdir()):
            if f.suffix in (".json", ".safetensors"):
                st = f.stat()
                out.append((f.name, st.st_ino, st.st_size, st.st_mtime_ns))
    except FileNotFoundError:  # caught mid-swap: an empty stamp differs, so the next request looks again
        return ()
    return tuple(out)


class Digests:
    """An adapter's content digest (its weights and adapter config), hashed again only when its
    stamp moves. Unlike the stamp it is the same on every node, so a parse-cache table records it
    and a replica serves a cached parse only from the weights that wrote it."""

    def __init__(self):
        self.known: dict[Path, tuple[tuple, str]] = {}

    def of(self, path: Path) -> str:
        now = stamp(path)
        if path not in self.known or self.known[path][0] != now:
            sha = hashlib.sha256()
            for f in sorted(Path(path).glob("*.safetensors")) + [Path(path) / "adapter_config.json"]:
                if f.exists():
                    sha.update(f.name.encode() + b"\0")
                    with open(f, "rb") as fh:
                        while chunk := fh.read(1 << 20):
                            sha.update(chunk)
            self.known[path] = (now, sha.hexdigest()[:16])
        return self.known[path][1]


def shares_base(path: Path) -> bool:
    """LoRA-family adapters load into one PeftModel over the shared base; other methods (prefix,
    prompt, IA3, bottleneck, BitFit, hybrid, full) get a model of their own in the replica."""
    config = path / "adapter_config.json"
    return config.exists() and json.loads(config.read_text()).get("peft_type") == "LORA" and not qlora(path)


def qlora(path: Path) -> bool:
    meta = path / "skutune.json"
    method = json.loads(meta.read_text()).get("method") if meta.exists() else None
    return (method.get("name") if isinstance(method, dict) else method) == "qlora"


def product_cards(answer: dict | None, catalog: dict, region: str, currency: str) -> tuple[list[dict], list[str]]:
    """(cards for catalog SKUs in answer order, SKUs dropped because the catalog lacks them)."""
    skus = answer.get("skus", []) if isinstance(answer, dict) and isinstance(answer.get("skus"), list) else []
    cards, dropped = [], []
    for sku in skus:
        row = catalog.get(sku) if isinstance(sku, str) else None
        if row is None:
            dropped.append(str(sku))
            continue
        cards.append(
            {
                "sku": sku,
                "id": row.get("source_id") or sku,  # the id as the store's own catalog writes it
                "title": row["title"],
                "category": row["category"],
                "price": row["prices"].get(region),
                "currency": currency,
                "sold_in_region": region in row["regions"],
            }
        )
    return cards, dropped
