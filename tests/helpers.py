"""What tests share besides fixtures: paths, the tiny config, the demo store's profile, the test token."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "jobs" / "configs"
TOKEN = "test-token-not-a-secret"
ADMIN_TOKEN = "test-admin-token-not-a-secret"
SERVE_PORT = 8765


def tiny_config(out_dir: Path, **overrides):
    from skutune.config import load_config

    return load_config(CONFIGS / "tiny.yaml", {"run.output_dir": str(out_dir), **overrides})


def demo_store():
    """The demo store's profile (jobs/configs/stores/samsung.yaml), which the bundled data is for."""
    from skutune.store import StoreProfile, load_store_data

    return StoreProfile.model_validate(load_store_data("samsung"))


def market_store(**regions):
    """A multi-currency marketplace profile (US/USD, IN/INR, EU/EUR, UK/GBP) for pure-logic tests."""
    from skutune.store import StoreProfile

    regions = regions or {
        "US": {"currency": "USD", "symbol": "$"},
        "IN": {"currency": "INR", "symbol": "₹"},
        "EU": {"currency": "EUR", "symbol": "€"},
        "UK": {"currency": "GBP", "symbol": "£"},
    }
    return StoreProfile.model_validate({"name": "Test Market", "regions": regions, "marketplace": True})


AMAZON_COLUMNS = {  # ../shared/data/amazon_product_sample_1000.csv (and tests/fixtures/amazon_sample.csv) -> skutune
    "Uniq Id": "sku",
    "Product Name": "title",
    "Brand Name": "brand",
    "Category": "category",
    "Selling Price": "price",
    "About Product": "description",
    "Product Description": "description",
    "Technical Details": "description",
    "Product Specification": "attributes",
}


def read_scraped(path, store, columns=AMAZON_COLUMNS) -> tuple[list[dict], list[str], int]:
    """A scraped CSV validated row by row and grounded as curate does: (kept rows, quarantine reasons, rows in)."""
    import csv

    from skutune.data.records import CatalogRow
    from skutune.data.scraped import ground_catalog
    from skutune.data.stages import renamed

    kept, quarantined = [], []
    with open(path, newline="") as f:
        for raw in csv.DictReader(f):
            try:
                kept.append(CatalogRow.model_validate(renamed(raw, columns), context={"store": store}).model_dump())
            except ValueError as err:
                quarantined.append(str(err))
    return ground_catalog(kept), quarantined, len(kept) + len(quarantined)


def random_artefact(model_dir, out, method: dict, seed: int, meta: dict | None = None) -> Path:
    """An artefact of any method whose trained state is random, not identity, so it changes the output."""
    import json

    import torch

    from skutune.config import METHOD_CONFIG
    from skutune.train.methods import META_FILE, build_model, save_artefact

    torch.manual_seed(seed)
    cfg = METHOD_CONFIG.validate_python(method)
    model = build_model(model_dir, cfg)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.normal_(0, 0.5)
    out = save_artefact(model, out, cfg)
    if meta:
        (out / META_FILE).write_text(json.dumps({**json.loads((out / META_FILE).read_text()), **meta}))
    return out


def python_exe() -> str:
    return sys.executable


FRIDGE = "Suggest a Samsung fridge for a family of 4 under ₹50,000."  # the notes' example query


def fridge_example(catalog):
    """The notes' fridge query as a labelled demo example: every fridge meeting its constraints is relevant."""
    from skutune.constraints import satisfies

    cons = {"region": "IN", "max_price": 50000, "min_family_size": 4}
    relevant = [r["sku"] for r in catalog if r["category"] == "refrigerator" and satisfies(r, cons)]
    return {
        "kind": "budget",
        "task": "search",
        "query": FRIDGE,
        "region": "IN",
        "date": "2026-11-25",
        "target": {},
        "relevant": relevant,
        "constraints": cons,
    }


def assert_region_filtered(predictions: list[dict], examples: list[dict]) -> None:
    """Every grounded answer that searched applied its example's region filter first. A refusal
    searches nothing, so it applies no filter and must name no SKU (a tiny model under the grammar may refuse)."""
    import json

    region = {e["id"]: e["region"] for e in examples}
    grounded = [p for p in predictions if p["system"] == "grounded"]
    searched = [p for p in grounded if p["parse"].get("intent") != "refusal"]
    assert all(p["applied"][:1] == [f"region={region[p['id']]}"] for p in searched), [p["applied"] for p in searched]
    assert not any(json.loads(p["output"]).get("skus") for p in grounded if p not in searched)


@contextlib.contextmanager
def ray_head(args: list[str], env: dict, dashboard: int):
    """`ray start --head --block` with `args`, in a process group of its own, up once its dashboard
    answers HTTP; stopped by signalling that group. `ray stop` would stop every Ray on the
    machine, and `make test` runs these heads beside the rest of the suite's cluster."""
    import requests

    ray = str(Path(sys.executable).parent / "ray")
    proc = subprocess.Popen(
        [ray, "start", "--head", "--block", *args],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.time() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"ray start exited {proc.returncode}: {proc.stderr.read()[-2000:]}")
            with contextlib.suppress(requests.RequestException):
                requests.get(f"http://127.0.0.1:{dashboard}/api/version", timeout=2)
                break  # any answer, 401 included: the dashboard is up
            if time.time() > deadline:
                raise TimeoutError(f"ray start: no dashboard on port {dashboard} after 180 s")
            time.sleep(0.5)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # ray start --block stops its processes on SIGTERM
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
