"""What a right answer must satisfy: the constraint predicates that curation's grader and eval's
metrics share (region, budget, family size, capacity, campaign; a Q&A answer's fact)."""

import re


def satisfies(row: dict | None, constraints: dict, campaigns: dict[str, set] | None = None) -> bool:
    """`campaigns`: campaign id -> the families on offer (StoreProfile.campaigns)."""
    if row is None:
        return False
    region = constraints.get("region")
    if region and region not in row["regions"]:
        return False
    if "max_price" in constraints and row["prices"][region] > constraints["max_price"]:
        return False
    if "min_family_size" in constraints and row["attributes"].get("family_size", 0) < constraints["min_family_size"]:
        return False
    if "min_capacity_l" in constraints and row["attributes"].get("capacity_l", 0) < constraints["min_capacity_l"]:
        return False
    if "campaign" in constraints and row["family"] not in (campaigns or {}).get(constraints["campaign"], ()):
        return False
    return True


def qa_correct(answer: dict | None, expected: str) -> bool:
    text = str((answer or {}).get("answer", "")).strip().lower()
    if expected in ("yes", "no"):
        m = re.match(r"^(yes|no)\b", text)
        return bool(m) and m.group(1) == expected
    return expected.replace(" ", "").lower() in text.replace(" ", "")


def campaign_families(store) -> dict[str, set]:
    return {c.id: set(c.families) for c in store.campaigns}
