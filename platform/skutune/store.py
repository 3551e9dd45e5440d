"""The store profile: everything skutune knows about one store, from configuration, not code.

A job config's `store:` section is a mapping or the path of a YAML file holding one (relative
paths resolve against the config's directory, then `jobs/configs/stores/`). The library reads
regions, currencies, prompts, brands, competitor and retailer words, campaigns and query kinds
from here only, so a user's catalog never meets another store's assumptions.

    name: Acme Electronics UK           # prompts read "<name> search. ..."
    regions: {UK: {currency: GBP, symbol: "£"}}
    marketplace: true                   # many brands, no competitors
"""

import datetime as dt
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

REFUSALS = ("medical", "off_domain", "toxic", "competitor_purchase")
OFF_DOMAIN = (
    "weather",
    "poem",
    "joke",
    "cricket",
    "football",
    "capital of",
    "translate",
    "movie",
    "recipe",
    "homework",
    "solve",
    "news",
    "election",
)
# health questions: a store search answers none of them with products (refusal "medical")
MEDICAL = (
    "antibiotic",
    "medicine",
    "medication",
    "dosage",
    "prescription",
    "symptom",
    "diagnose",
    "diagnosis",
    "sore throat",
    "fever",
    "infection",
    "painkiller",
)
LOGGED = "logged"  # the kind of examples made from query-log clicks: every store may have them
KINDS = (
    "model_code",
    "colloquial",
    "feature",
    "vague",
    "budget",
    "typo",
    "competitor",
    "comparison",
    "regional",
    "seasonal",
    "qa",
    "policy",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class RegionProfile(_Strict):
    currency: str = Field(
        pattern=r"^[A-Z]{3}$", description="ISO 4217 code of this region's prices (INR, GBP, JPY, ...)"
    )
    symbol: str = Field("", max_length=4, description="the price symbol shoppers type (₹, £, ¥); empty: none")
    budget_step: int = Field(100, ge=1, description="cold start rounds budget amounts to multiples of this")


class CampaignProfile(_Strict):
    id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$", description="the campaign id a parse and an adapter slice name"
    )
    names: list[str] = Field(min_length=1, description="how shoppers write the campaign (lower case)")
    regions: list[str] = Field(min_length=1, description="regions of the profile where it runs")
    valid_from: dt.date = Field(description="first day of the campaign")
    valid_to: dt.date = Field(description="last day of the campaign")
    families: list[str] = Field([], description="product families on offer; grounded search filters to them")
    discount_pct: float = Field(0, ge=0, le=100, description="the advertised discount")


class StoreProfile(_Strict):
    name: str = Field(
        min_length=1, max_length=80, description="the store's name; system prompts read '<name> search. ...'"
    )
    regions: dict[str, RegionProfile] = Field(
        min_length=1, description="region code (IN, UK, JP, ...) -> currency and symbol"
    )
    languages: list[str] = Field(
        ["en"],
        min_length=1,
        description="scripts of the queries curation keeps (en, hi, ja, ko, ...; filters.language)",
    )
    brands_sold: list[str] = Field(
        [], description="brands of a single-brand store (lower case); other brands are competitors"
    )
    marketplace: bool = Field(
        False, description="many brands: no brand is a competitor, and the competitor filter is off"
    )
    competitor_words: list[str] = Field(
        [], description="other brands' products; with purchase words a query is refused"
    )
    retailer_words: list[str] = Field([], description="other shops; a query naming one is off-domain")
    product_words: list[str] = Field([], description="words that make a query about products, e.g. 'tv for cricket'")
    off_domain_words: list[str] = Field(
        list(OFF_DOMAIN),
        description="topics a store search cannot answer unless a product "
        "word is present (weather, poem, ...); a bookshop drops 'poem' and 'recipe'",
    )
    medical_words: list[str] = Field(
        list(MEDICAL),
        description="health questions a store search must refuse ('medical') unless a product word is present; "
        "a pharmacy empties it",
    )
    category_words: dict[str, str] = Field(
        {},
        description="shopper words for catalog categories (fridge: refrigerator); "
        "every catalog category also names itself",
    )
    refusal_codes: list[str] = Field(list(REFUSALS), min_length=1, description="the reason codes of refusal answers")
    campaigns: list[CampaignProfile] = Field([], description="seasonal campaigns with date windows and regions")
    query_kinds: list[str] = Field(list(KINDS), min_length=1, description="kinds of labelled queries this store uses")
    encoder: str = Field(
        "minilm",
        description="dense encoder: 'minilm' (the offline MiniLM wheel) or a local "
        "sentence-transformers directory (a multilingual one for non-English catalogs)",
    )
    stopwords: str = Field(
        "en", description="BM25 stopword language (bm25s), or 'none' for catalogs in other languages"
    )

    @model_validator(mode="after")
    def _consistent(self):
        bad = [c.id for c in self.campaigns if set(c.regions) - set(self.regions) or c.valid_from > c.valid_to]
        if bad:
            raise ValueError(
                f"campaigns {bad}: regions must be the store's ({sorted(self.regions)}) and valid_from <= valid_to"
            )
        if self.marketplace and (self.brands_sold or self.competitor_words):
            raise ValueError("a marketplace has no competitors: leave brands_sold and competitor_words empty")
        for r in self.regions:
            if not (2 <= len(r) <= 3 and r.isalnum() and r.isupper()):
                raise ValueError(f"region code {r!r:.20}: two or three capital letters or digits")
        return self

    # what the library asks of a store
    def system(self, target: str = "answer") -> str:
        """The system prompt: short on purpose, since every training example carries it; the answer
        format is taught by the examples, not described here."""
        return f"{self.name} search. " + (
            "Parse the query into JSON." if target == "parse" else "Answer in JSON with catalog SKUs."
        )

    def currency(self, region: str) -> str:
        return self.regions[region].currency

    def symbol(self, region: str) -> str:
        return self.regions[region].symbol

    def region_of_currency(self, code: str) -> str | None:
        """The first region priced in `code`, or None (a price in a currency the store does not use)."""
        return next((r for r, p in self.regions.items() if p.currency == code.upper()), None)

    def campaign_dicts(self) -> list[dict]:
        return [c.model_dump(mode="json") for c in self.campaigns]


# How shoppers and scrapers write each currency: facts of the currency, not of a store (the profile
# says which currencies it uses). Read by the scraped-price reader and the query budget rule.
CURRENCY_WORDS = {
    "INR": ("rs", "inr", "rupees", "rupee", "₹"),
    "USD": ("usd", "us$", "dollars", "dollar", "bucks", "$"),
    "EUR": ("eur", "euro", "euros", "€"),
    "GBP": ("gbp", "pounds", "pound", "quid", "£"),
    "JPY": ("jpy", "yen", "円", "¥"),
}

STORES_DIR = Path(__file__).resolve().parents[2] / "jobs" / "configs" / "stores"


def store_file(ref: str, base: Path | None = None) -> Path:
    """A store profile YAML from a path or a name: "uk_marketplace" is stores/uk_marketplace.yaml beside the
    config (`base`), else in the shipped jobs/configs/stores/."""
    if Path(ref).is_absolute():
        candidates = [Path(ref)]
    else:
        near = [base / ref, base / "stores" / f"{ref}.yaml"] if base else []
        candidates = [*near, Path(ref), STORES_DIR / ref, STORES_DIR / f"{ref}.yaml"]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    shipped = sorted(p.stem for p in STORES_DIR.glob("*.yaml"))
    raise ValueError(f"no store profile {ref!r:.80}: give a YAML path or one of {shipped}")


def load_store_data(ref, base: Path | None = None) -> dict:
    """The raw profile mapping: `ref` as written in a config (a mapping, a path or a shipped name)."""
    if isinstance(ref, dict):
        return ref
    if not isinstance(ref, str):
        raise ValueError(f"store: a mapping or a profile's path/name, got {type(ref).__name__}")
    data = yaml.safe_load(store_file(ref, base).read_text())
    if not isinstance(data, dict):
        raise ValueError(f"store profile {ref!r} is not a YAML mapping")
    return data
