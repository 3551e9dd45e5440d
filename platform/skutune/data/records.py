"""Typed rows for catalog and examples: what curate validates and quarantines against.

Regions, currencies and query kinds are the store profile's, passed as validation context:
`CatalogRow.model_validate(row, context={"store": store})`."""

import html
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from skutune.data.filters import language
from skutune.schemas import is_valid, task_for
from skutune.store import LOGGED, StoreProfile


def _store(info: ValidationInfo) -> StoreProfile:
    return info.context["store"]


def _known(value: str, known, what: str) -> str:
    if value not in known:
        raise ValueError(f"unknown {what} {value!r:.40}; the store has {sorted(known)[:12]}")
    return value


def _number(text):
    """ "₹44,990" -> 44990.0; "345 L" -> 345; anything else unchanged."""
    if not isinstance(text, str):
        return text
    m = re.fullmatch(
        r"\s*[^\d\s-]{0,4}\s*(-?[\d,]*\.?\d+)\s*(?:L|kg|mm|cm|in|inch|W|Hz|mAh|GB|TB|MP|ton|Ton|\"|%)?\s*", text
    )
    if not m:
        return text
    num = float(m.group(1).replace(",", ""))
    return int(num) if num.is_integer() else num


def _value(text: str):
    """An attribute value from a blob: yes/no -> bool, "345 L" -> 345, else the text."""
    return {"yes": True, "no": False}.get(text.lower(), _number(text))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "-", str(text).upper()).strip("-")


def normalise_scraped(v: dict, store: StoreProfile) -> dict:
    """Scraped catalogs: blank rows, SKU ids in any case, category paths ("Home > Kitchen >
    Refrigerators"), one price as text ("₹44,990") with its currency, attribute blobs
    ("Capacity: 345 L | Door: Double Door"), no family. Normalised here, or rejected with a reason."""
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
    if isinstance(v.get("sku"), str):
        v["sku"] = v["sku"].strip().upper()  # "sc00001-64-wh" -> "SC00001-64-WH"; bad characters still fail
    if isinstance(v.get("category"), str) and ">" in v["category"]:
        v["category"] = v["category"].split(">")[-1].strip().lower()
    if "prices" not in v and v.get("price") not in (None, ""):
        region = store.region_of_currency(str(v.get("currency") or ""))
        if region is None:
            raise ValueError(f"unknown currency {v.get('currency')!r:.40}")
        v["prices"] = {region: _number(v["price"])}
        v.setdefault("regions", [region])
    if isinstance(v.get("attributes"), str):
        pairs = [p.split(":", 1) for p in re.split(r"[|;\n]", v["attributes"]) if ":" in p]
        v["attributes"] = {re.sub(r"\W+", "_", k.strip().lower()).strip("_"): _value(x.strip()) for k, x in pairs}
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
