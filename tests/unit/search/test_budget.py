"""The budget a rule reads from a shopper's query, and how it overrides the model's parse."""

import pytest

from helpers import market_store
from skutune.search.budget import extract_budget
from skutune.search.grounded import parse_hint, read_parse

STORE = market_store()


@pytest.mark.parametrize(
    "query, region, budget",
    [
        ("phone under 50k", "IN", {"price_max": 50000}),
        ("under ₹50,000 fridge", "IN", {"price_max": 50000}),
        ("below rs. 45000 washing machine", "IN", {"price_max": 45000}),
        ("tv within 1.5 lakh", "IN", {"price_max": 150000}),
        ("S24 under 80000 rs", "IN", {"price_max": 80000}),
        ("55 inch tv under 60000", "IN", {"price_max": 60000}),  # the size is not the budget
        ("1.5 ton ac under 40k", "IN", {"price_max": 40000}),
        ("samsung tv 40k", "IN", {"price_max": 40000}),  # a bare amount with a multiplier: a ceiling
        ("phone ₹20,000", "IN", {"price_max": 20000}),
        ("20k to 30k phone", "IN", {"price_min": 20000, "price_max": 30000}),
        ("rs 15000-20000 phone", "IN", {"price_min": 15000, "price_max": 20000}),
        ("headphones upto $300", "US", {"price_max": 300}),
        ("max 200 dollars shoes", "US", {"price_max": 200}),
        ("costume less than 30 bucks", "US", {"price_max": 30}),
        ("board game under 25", "US", {"price_max": 25}),
        ("puzzle 1000 pieces under $20", "US", {"price_max": 20}),
        ("lego $20-$40", "US", {"price_min": 20, "price_max": 40}),
        ("between 20 and 40 euros board game", "EU", {"price_min": 20, "price_max": 40}),
        ("laptop over £500", "UK", {"price_min": 500}),
    ],
)
def test_budgets_in_many_phrasings(query, region, budget):
    assert extract_budget(query, region, STORE) == {**budget, "currency": STORE.currency(region)}


@pytest.mark.parametrize(
    "query",
    [
        "fridge for family of 4",
        "galaxy s23 ultra 256gb",
        "toys for kids under 5 years",
        "toys for under 5s",
        "costume for 3-4 years",
        "lego set 250",  # a number without a budget word or a currency: a set number
        "budget phone",
        "s23 ultra vs iphone 15 pro max",
    ],
)
def test_sizes_ages_counts_and_model_numbers_are_not_budgets(query):
    assert extract_budget(query, "US", STORE) == {}


def test_the_rule_wins_over_the_models_price_and_fills_a_missing_one():
    model = (
        '{"intent":"search","region":"IN","query":"phone under 50k","category":"phone","constraints":{"price_max":50}}'
    )
    parse, valid = read_parse(model, "phone under 50k", "IN", STORE)
    assert valid and parse["constraints"] == {"price_max": 50000, "currency": "INR"} and parse["category"] == "phone"
    parse, valid = read_parse("not json", "phone under 50k", "IN", STORE)  # the fallback gets the budget too
    assert not valid and parse["constraints"]["price_max"] == 50000
    kept = '{"intent":"search","region":"IN","query":"good phone","constraints":{"price_max":30000,"battery_mah_min":5000}}'
    assert read_parse(kept, "good phone", "IN", STORE)[0]["constraints"] == {
        "price_max": 30000,
        "battery_mah_min": 5000,
    }
    refusal = '{"intent":"refusal","region":"IN","query":"iphone under 50k","refusal":"competitor_purchase"}'
    assert "constraints" not in read_parse(refusal, "iphone under 50k", "IN", STORE)[0]


def test_the_decoders_hint_is_the_echo_and_budget_a_parse_writes():
    """The Serve app drafts a lone parse from this (speculative.greedy): written as a training
    target is (compact JSON, its key order, the normalized query), with the rule's budget where it
    reads one and the category retrieval guesses (GroundedSearch.hint)."""
    assert parse_hint("Samsung  Fridge under ₹50,000", "IN", STORE, category="refrigerator") == (
        '{"intent":"search","region":"IN","query":"samsung fridge under ₹50,000","category":"refrigerator",'
        '"constraints":{"price_max":50000,"currency":"INR"}}'
    )
    assert parse_hint("lego for a 7 year old", "US", STORE) == (
        '{"intent":"search","region":"US","query":"lego for a 7 year old"}'
    )
