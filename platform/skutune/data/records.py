"""Typed rows for catalog and examples: what curate validates and quarantines against.

Regions, currencies and query kinds are the store profile's, passed as validation context:
`CatalogRow.model_validate(row, context={"store": store})`."""

import html
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from skutune.data.filters import language
from skutune.data.scraped import MAX_DESCRIPTION_CHARS, attributes, category_path, price, safe_sku
from skutune.schemas import is_valid, task_for
from skutune.store import LOGGED, StoreProfile


def _store(info: ValidationInfo) -> StoreProfile:
    return info.context["store"]


def _known(value: str, known, what: str) -> str:
    if value not in known:
        raise ValueError(f"unknown {what} {value!r:.40}; the store has {sorted(known)[:12]}")
    return value


def _slug(text: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "-", str(text).upper()).strip("-")


def normalise_scraped(v: dict, store: StoreProfile) -> dict:
    """Scraped catalogs: blank rows, ids in any format, category trees, one price as text in any
    currency of the store, spec lists in any common shape, descriptions, no family (scraped.py).
    Normalised here, or rejected with a reason."""
    if all(x in (None, "", [], {}) for x in v.values()):
        raise ValueError("blank row")
    v = {
        k: html.unescape(x).strip() if isinstance(x, str) else x for k, x in v.items()
    }  # "Acme &amp; Co" -> "Acme & Co"
    if isinstance(v.get("rating"), str):
        m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(?:/\s*5|out of 5|stars?)?\s*$", v["rating"])
        v["rating"] = float(m.group(1)) if m else None  # "4.3 out of 5" -> 4.3; "N/A", "-" -> no rating
    words = {w: language(w) for w in str(v.get("title") or "").split()}
    if not v.get("title_en") and set(words.values()) - {"en", "und"}:  # mixed languages
        latin = " ".join(w for w, lang in words.items() if lang in ("en", "und"))
        if len(latin) < 3:
            raise ValueError(f"title: no English text in {v['title']!r:.60}")
        v["title_en"] = latin  # "Acme 345L 冷蔵庫" -> "Acme 345L"; the full title stays in `title`
        if "ja" in words.values():
            v.setdefault("title_ja", v["title"])
    if v.get("sku") not in (None, ""):  # any id format: the original is kept and returned
        v.setdefault("source_id", str(v["sku"]).strip())
        v["sku"] = safe_sku(v["sku"])  # "sc00001-64-wh" -> "SC00001-64-WH"; "a/b#1" -> "A-B-1-<hash>"
    v["category_path"] = category_path(v.get("category"))  # the level that groups products: ground_catalog
    if not v["category_path"]:
        raise ValueError("no category: every product needs one (map yours with data.catalog_columns)")
    v["category"] = v["category_path"][-1].lower()
    if "prices" not in v and v.get("price") not in (None, ""):
        amount, region = price(v["price"], str(v.get("currency") or ""), store)
        v["prices"] = {region: amount}
        v.setdefault("regions", [region])
    if not isinstance(v.get("attributes", {}), dict):
        v["attributes"] = attributes(v["attributes"])  # "" or None: no specs
    if isinstance(v.get("description"), list):
        v["description"] = " | ".join(str(x) for x in v["description"])
    if isinstance(v.get("description"), str):
        v["description"] = v["description"][:MAX_DESCRIPTION_CHARS]
    if v.get("title") and not v.get("title_en"):
        v["title_en"] = v["title"]
    if v.get("family_name") and not v.get("family"):
        v["family"] = _slug(v["family_name"])
    if v.get("sku") and not v.get("family"):
        v["family"] = v["sku"]
        v.setdefault("family_name", v.get("title") or v["sku"])
    return v


MAX_QUERY_CHARS = 500  # a shopper's query; longer rows are quarantined (also in query logs)


class CatalogRow(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=False)
    sku: str = Field(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)*$")
    category: str = Field(min_length=1)
    family: str = Field(min_length=1)
    family_name: str = Field(min_length=1)
    title_en: str = Field(min_length=3, max_length=300)
    title_ja: str = ""
    title: str = Field(min_length=3, max_length=400)
    prices: dict[str, float]
    regions: list[str] = Field(min_length=1)  # regions of the store profile
    attributes: dict = {}
    brand: str = ""
    brand_inferred: bool = False  # the brand column was empty: scraped.ground_catalog read it from the title
    source_id: str = ""  # the id as the user's catalog writes it (sku is its safe internal form)
    category_path: list[str] = []  # the full tree, root first; `category` is the level that groups products
    description: str = ""  # searchable text: about, description, technical details
    tags: list[str] = []  # use cases ("gaming", "students"): what `use` in a query parse matches
    faq: list[dict] = []
    rating: float | None = Field(None, ge=0, le=5)
    popularity: int = 0

    @model_validator(mode="before")
    @classmethod
    def _scraped(cls, v, info: ValidationInfo):
        """Accept what scraped catalogs look like (see `normalise_scraped`)."""
        return normalise_scraped(v, _store(info)) if isinstance(v, dict) else v

    @field_validator("regions")
    @classmethod
    def _store_regions(cls, v, info: ValidationInfo):
        return [_known(r, _store(info).regions, "region") for r in v]

    @field_validator("prices")
    @classmethod
    def _positive(cls, v):
        if not v or any(p <= 0 for p in v.values()):
            raise ValueError("every price must be positive")
        return v


class ExampleRow(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    kind: str  # one of the store profile's query kinds
    task: str
    split: Literal["train", "test"]
    template: str = ""
    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    region: str  # one of the store profile's regions
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    target: dict
    relevant: list[str] = []
    constraints: dict = {}
    parse: dict | None = None  # the understanding target (understand.py); None: not labelled

    @field_validator("kind")
    @classmethod
    def _store_kind(cls, v, info: ValidationInfo):
        return _known(v, [*_store(info).query_kinds, LOGGED], "kind")

    @field_validator("region")
    @classmethod
    def _store_region(cls, v, info: ValidationInfo):
        return _known(v, _store(info).regions, "region")

    def check(self, known_skus: set[str]) -> str | None:
        """A reason this example cannot be trained or scored on, or None."""
        if self.task != task_for(self.kind):
            return f"task {self.task!r} does not match kind {self.kind!r}"
        if not is_valid(self.target, self.task):
            return f"target is not valid {self.task} JSON"
        unknown = [s for s in self.target.get("skus", []) + self.relevant if s not in known_skus]
        if unknown:
            return f"unknown SKU {unknown[0]}"
        return None
