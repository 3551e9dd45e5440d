"""Product cards: catalog facts for the SKUs an answer names, with the store's own id."""

from skutune.serve.cards import product_cards

CATALOG = {
    "A-B-1-7C208122": {
        "title": "Acme kettle",
        "category": "kettles",
        "prices": {"US": 20},
        "regions": ["US"],
        "source_id": "a/b#1",
    },
    "K2": {"title": "Kettle two", "category": "kettles", "prices": {"US": 25}, "regions": ["US"]},
}


def test_cards_return_the_catalogs_own_id_and_drop_unknown_skus():
    cards, dropped = product_cards({"skus": ["A-B-1-7C208122", "K2", "NOPE"]}, CATALOG, "US", "USD")
    assert [c["id"] for c in cards] == ["a/b#1", "K2"]  # the original id; a catalog without one: the SKU
    assert dropped == ["NOPE"] and cards[0]["price"] == 20 and cards[0]["currency"] == "USD"
