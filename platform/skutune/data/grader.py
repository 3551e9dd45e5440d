"""The catalog-grounded grader that rejection sampling keeps or drops candidates with.

A candidate is a teacher's answer to an example's prompt: JSON in the task's schema, or free
text naming products ("Acme 345L Double Door Refrigerator fits a family of 4."). Free
text is grounded first: catalog product names and SKU ids in it become the SKUs it names,
so it can be checked like JSON and, if it passes, trained on in the task's JSON form.

Checks: the answer parses to the task's schema; it does not send the shopper to another shop
or brand; every SKU exists; each is sold in the example's region, is in a category the query
asks for, and meets its constraints (budget, family size, campaign); a Q&A answer matches
the catalog fact; a refusal gives the right reason. Constraints come from the example's
labels, and from the query's own words where it has none (`query_constraints`). Passing means no check failed; the score in [0, 1]
(0.9 x the share of checks passed + 0.1 x the share of named SKUs known to be relevant) ranks
candidates.
"""

import re
from dataclasses import dataclass, field

from skutune.constraints import campaign_families, qa_correct, satisfies
from skutune.data.filters import off_domain
from skutune.schemas import is_valid, parse_answer, skus_of

SKU_TOKEN = re.compile(r"\b(?=[A-Z0-9-]*[A-Z])[A-Z0-9]{2,}(?:-[A-Z0-9]+)+\b")  # with a letter: "2026-01-18" is a date
BUDGET = re.compile(
    r"\b(?:under|below|less than|within|up ?to|max|budget of)\s*(?:a budget of\s*)?[^\w\s,.]?\s*(\d[\d,]*(?:\.\d+)?)\s*(k|lakh)?",
    re.I,
)
FAMILY = re.compile(r"\bfamily of (\d+)|\b(\d+) (?:people|persons|members)\b", re.I)
CAPACITY = re.compile(
    r"\b(?:at least|above|over|minimum|min)\s*(\d+)\s*(?:l|litres?|liters?)\b|\b(\d+)\s*(?:l|litres?|liters?) or (?:more|above)\b",
    re.I,
)


def query_constraints(query: str, region: str, category_words: dict[str, str]) -> tuple[dict, set[str]]:
    """Constraints a query states in words, for prompts with no labelled ones (zero-click log
    queries): budget, family size, capacity, and the product category it names."""
    cons = {"region": region}
    if m := BUDGET.search(query):
        amount = float(m.group(1).replace(",", "")) * {"k": 1e3, "lakh": 1e5}.get((m.group(2) or "").lower(), 1)
        cons["max_price"] = amount
    if m := FAMILY.search(query):
        cons["min_family_size"] = int(m.group(1) or m.group(2))
    if m := CAPACITY.search(query):
        cons["min_capacity_l"] = int(m.group(1) or m.group(2))
    low = query.lower()
    categories = {cat for word, cat in category_words.items() if re.search(rf"\b{re.escape(word)}s?\b", low)}
    return cons, categories


@dataclass
class Grade:
    passed: bool
    score: float
    answer: dict | None  # the answer in the task's JSON form, grounded if it was free text
    reasons: list[str] = field(default_factory=list)


class Grader:
    def __init__(self, catalog: list[dict], store):
        self.by_sku, self.store = {r["sku"]: r for r in catalog}, store
        # a category names itself; the store adds shoppers' words for it ("fridge": "refrigerator")
        self.category_words = {**{r["category"]: r["category"] for r in catalog}, **store.category_words}
        self.campaigns = campaign_families(store)
        families = {}
        for r in catalog:
            families.setdefault(r["family_name"].lower(), []).append(r)
        self.families = sorted(families.items(), key=lambda kv: -len(kv[0]))  # "galaxy s24 ultra" before "galaxy s24"

    def mentions(self, text: str, region: str) -> list[str]:
        """SKUs free text names: SKU ids, then product names (the cheapest variant in the region)."""
        skus = [s for s in SKU_TOKEN.findall(text)]
        low = text.lower()
        for name, rows in self.families:
            if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", low):
                low = low.replace(name, " ")
                local = [r for r in rows if region in r["regions"]] or rows
                skus.append(min(local, key=lambda r: (r["prices"].get(region, float("inf")), r["sku"]))["sku"])
        return list(dict.fromkeys(skus))

    def answer_of(self, text: str, ex: dict) -> dict | None:
        answer = parse_answer(text)
        if answer is not None or ex["task"] != "search":
            return answer
        skus = self.mentions(text, ex["region"])
        return {"skus": skus[:5]} if skus else None

    def grade(self, text: str, ex: dict) -> Grade:
        answer, reasons, checks = self.answer_of(text, ex), [], 0

        def check(ok: bool, reason: str):
            nonlocal checks
            checks += 1
            if not ok:
                reasons.append(reason)

        check(is_valid(answer, ex["task"]), f"not valid {ex['task']} JSON")
        prose = (
            text
            if parse_answer(text) is None
            else " ".join(str(v) for k, v in (answer or {}).items() if k != "compare")
        )
        check(ex["task"] == "refusal" or off_domain(prose, self.store) is None, "off-domain or competitor answer")
        stated, named = query_constraints(ex["query"], ex["region"], self.category_words)
        cons = {k: v for k, v in {**stated, **ex.get("constraints", {})}.items() if k != "answer"}
        wanted = {self.by_sku[s]["category"] for s in ex.get("relevant", []) if s in self.by_sku} or named
        for sku in skus_of(answer):
            row = self.by_sku.get(sku)
            check(row is not None, f"hallucinated SKU {sku}")
            if row is None:
                continue
            region = ex["region"]
            check(region in row["regions"], f"{sku} not sold in {region}")
            check(
                not wanted or row["category"] in wanted,
                f"{sku} is a {row['category']}, not a {'/'.join(sorted(wanted))}",
            )
            for key, value in cons.items():
                if key != "region":
                    check(
                        satisfies(row, {"region": region, key: value}, self.campaigns)
                        if region in row["regions"]
                        else False,
                        f"{sku} breaks {key} ({value})",
                    )
        if ex["kind"] == "qa" and "answer" in ex.get("constraints", {}):  # a row may not record the fact (chats)
            check(qa_correct(answer, ex["constraints"]["answer"]), "answer does not match the catalog fact")
        if ex["task"] == "refusal" and ex.get("target", {}).get("refusal"):
            check((answer or {}).get("refusal") == ex["target"]["refusal"], "wrong refusal reason")
        relevant, named = set(ex.get("relevant", [])), skus_of(answer)
        relevance = len(set(named) & relevant) / max(len(named), 1) if relevant else 1.0  # no labels: neutral
        return Grade(
            not reasons,
            0.9 * (checks - len(reasons)) / max(checks, 1) + 0.1 * relevance,
            answer if not reasons else None,
            reasons,
        )

    def best(self, texts: list[str], ex: dict) -> tuple[Grade | None, list[Grade]]:
        """(the best passing candidate or None, every candidate's grade)."""
        grades = [self.grade(t, ex) for t in texts]
        passing = [g for g in grades if g.passed]
        return (max(passing, key=lambda g: g.score) if passing else None), grades
