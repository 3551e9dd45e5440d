"""Typed rows for catalog and examples: what curate validates and quarantines against."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from skutune.catalog import REGIONS
from skutune.examples import KINDS
from skutune.schemas import is_valid, task_for


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
    regions: list[Literal[REGIONS]] = Field(min_length=1)
    attributes: dict = {}
    faq: list[dict] = []
    rating: float | None = Field(None, ge=0, le=5)
    popularity: int = 0

    @field_validator("prices")
    @classmethod
    def _positive(cls, v):
        if not v or any(p <= 0 for p in v.values()):
            raise ValueError("every price must be positive")
        return v


class ExampleRow(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1)
    kind: Literal[KINDS]
    task: str
    split: Literal["train", "test"]
    template: str = ""
    query: str = Field(min_length=1, max_length=500)
    region: Literal[REGIONS]
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    target: dict
    relevant: list[str] = []
    constraints: dict = {}

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
