"""Request-side helpers for the Serve app: adapter ids, and turning a model's answer into
product cards from the catalog. SKUs that are not in the catalog are dropped and counted."""

import json
import re
from pathlib import Path

from skutune.catalog import CURRENCY

ADAPTER_ID = r"^[a-z0-9][a-z0-9_.@-]{0,63}$"  # no slashes: an id can never name a path outside adapters_dir
BASE = "base"  # the adapter id that means "no adapter"


def adapter_path(adapters_dir: Path, adapter_id: str) -> Path | None:
    """The adapter's directory, or None if there is no such adapter (or the id is unsafe)."""
    if not re.match(ADAPTER_ID, adapter_id) or ".." in adapter_id:
        return None
    path = (adapters_dir / adapter_id).resolve()
    if path.parent != adapters_dir.resolve() or not is_artefact(path):
        return None
    return path


def is_artefact(path: Path) -> bool:
    """A trained method's output: skutune's metadata, or a plain peft adapter directory."""
    return (path / "skutune.json").exists() or (path / "adapter_config.json").exists()


def shares_base(path: Path) -> bool:
    """LoRA-family adapters load into one PeftModel over the shared base; other methods (prefix,
    prompt, IA3, bottleneck, BitFit, hybrid, full) get a model of their own in the replica."""
    config = path / "adapter_config.json"
    return config.exists() and json.loads(config.read_text()).get("peft_type") == "LORA" and not qlora(path)


def qlora(path: Path) -> bool:
    meta = path / "skutune.json"
    method = json.loads(meta.read_text()).get("method") if meta.exists() else None
    return (method.get("name") if isinstance(method, dict) else method) == "qlora"


def list_adapters(adapters_dir: Path) -> list[str]:
    if not adapters_dir.exists():
        return []
    return sorted(p.name for p in adapters_dir.iterdir() if is_artefact(p))


def product_cards(answer: dict | None, catalog: dict, region: str) -> tuple[list[dict], list[str]]:
    """(cards for catalog SKUs in answer order, SKUs dropped because the catalog lacks them)."""
    skus = answer.get("skus", []) if isinstance(answer, dict) and isinstance(answer.get("skus"), list) else []
    cards, dropped = [], []
    for sku in skus:
        row = catalog.get(sku) if isinstance(sku, str) else None
        if row is None:
            dropped.append(str(sku))
            continue
        cards.append({"sku": sku, "title": row["title"], "category": row["category"], "price": row["prices"].get(region),
                      "currency": CURRENCY[region], "sold_in_region": region in row["regions"]})
    return cards, dropped
