"""Scraped catalogs as they come: category trees, spec lists, prices as text, ids in any format,
empty brand columns. Checked on shapes seen in the wild and on rows of a real public catalog
(tests/fixtures/amazon_sample.csv: 55 rows of ../shared/data/amazon_product_sample_1000.csv)."""

import pytest

from helpers import REPO, market_store, read_scraped
from skutune.data.records import CatalogRow
from skutune.data.scraped import attributes, category_path, ground_catalog, names_the_product, price, safe_sku

# no GBP here: a £ price is in a currency this store does not use
STORE = market_store(
    US={"currency": "USD", "symbol": "$"}, IN={"currency": "INR", "symbol": "₹"}, EU={"currency": "EUR", "symbol": "€"}
)


@pytest.mark.parametrize(
    "raw, levels",
    [
        ("Home > Kitchen > Fridges", ["Home", "Kitchen", "Fridges"]),
        ("Home>>Kitchen", ["Home", "Kitchen"]),
        ("Toys & Games | Puzzles | Jigsaw Puzzles", ["Toys & Games", "Puzzles", "Jigsaw Puzzles"]),
        ("Audio / Headphones", ["Audio", "Headphones"]),
        ('["Home", "Kitchen"]', ["Home", "Kitchen"]),
        ('["Home > Kitchen"]', ["Home", "Kitchen"]),
        (  # Flipkart's public sample: a `>>` tree in a JSON-list wrapper, its last level the product
            '["Pet Supplies >> Grooming >> Shampoo >> Sicons Arnica Dog Shampoo (500 ml)"]',
            ["Pet Supplies", "Grooming", "Shampoo", "Sicons Arnica Dog Shampoo (500 ml)"],
        ),
        (["Home", "Kitchen"], ["Home", "Kitchen"]),
        ("Skates/Scooters", ["Skates/Scooters"]),  # a slash inside a name is not a level
    ],
)
def test_category_trees_in_every_common_shape(raw, levels):
    assert category_path(raw) == levels


@pytest.mark.parametrize(
    "raw, specs",
    [
        ("Capacity: 345 L | Door: Double Door", {"capacity": 345, "door": "Double Door"}),
        ('{"Screen Size": "6.5 in", "5G": "Yes"}', {"screen_size": 6.5, "5g": True}),
        ([{"key": "Colour", "value": "Red"}, {"name": "Weight", "value": "2 kg"}], {"colour": "Red", "weight": 2}),
        ('[["RAM", "8 GB"], ["Storage", "128 GB"]]', {"ram": 8, "storage": 128}),
        (  # Flipkart's public sample: key/value pairs as a Ruby hash in a wrapper; a pair without a key is skipped
            '{"product_specification"=>[{"key"=>"Pet Type", "value"=>"Dog"}, {"key"=>"Quantity", "value"=>"500 ml"}, '
            '{"value"=>"1 Shampoo"}]}',
            {"pet_type": "Dog", "quantity": "500 ml"},
        ),
        ({"specs": [{"key": "Fabric", "value": "Cotton"}]}, {"fabric": "Cotton"}),
        ("Item Weight: 12.8 ounces\nASIN: B07D36747F", {"item_weight": "12.8 ounces", "asin": "B07D36747F"}),
    ],
)
def test_spec_lists_in_every_common_shape(raw, specs):
    assert attributes(raw) == specs


@pytest.mark.parametrize(
    "text, currency, expected",
    [
        ("$237.68", "", (237.68, "US")),
        ("$10.99 - $19.99", "", (10.99, "US")),  # a range: its low end
        ("$6.94 $ 6 . 94", "", (6.94, "US")),
        ("$ 19 99 $39.95 #listPrice Save $19.96 (50%)", "", (19.99, "US")),  # the cents a scraper split off
        ("Total price: $5.00", "", (5, "US")),
        ("Rs. 1,299", "", (1299, "IN")),
        ("₹1,29,999", "", (129999, "IN")),  # Indian digit grouping
        ("1.299,00 €", "", (1299, "EU")),
        ("USD 20", "", (20, "US")),
        ("49 euros", "", (49, "EU")),
        ("1299", "INR", (1299, "IN")),  # the currency column names it
    ],
)
def test_prices_as_text_in_any_currency_of_the_store(text, currency, expected):
    assert price(text, currency, STORE) == expected


@pytest.mark.parametrize(
    "text, currency, reason",
    [
        ("Total price:", "", "no amount"),
        ("£12.99", "", "is in ['GBP']"),  # not a currency of this store
        ("1299", "", "names no currency"),  # three currencies: a bare number is ambiguous
        ("$12", "EUR", "not in the currency column's EUR"),
    ],
)
def test_prices_that_cannot_be_placed_say_why(text, currency, reason):
    with pytest.raises(ValueError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        price(text, currency, STORE)


def test_a_one_currency_store_reads_a_bare_number_in_its_currency():
    uk = market_store(UK={"currency": "GBP", "symbol": "£"})
    assert price("1,299.00", "", uk) == (1299, "UK")


def test_any_id_maps_to_a_safe_distinct_sku():
    assert safe_sku("sc00001-64-wh") == "SC00001-64-WH"  # already safe: kept, upper-cased
    assert safe_sku("B07KMVJJK7") == "B07KMVJJK7"
    unsafe = ["a/b#1", "a/b#2", "a b 1", "../../etc", "x" * 60, "////"]
    mapped = [safe_sku(i) for i in unsafe]
    assert len(set(mapped)) == len(unsafe) and mapped == [safe_sku(i) for i in unsafe]  # distinct, stable
    assert all(CatalogRow.model_fields["sku"].metadata[0].pattern for _ in mapped)
    row = CatalogRow.model_validate(
        {"sku": "a/b#1", "title": "Acme kettle", "category": "Kitchen", "price": "$20"}, context={"store": STORE}
    )
    assert row.source_id == "a/b#1" and row.sku == safe_sku("a/b#1")


def test_the_category_level_groups_products_and_brands_are_inferred():
    rows = [
        {"title_en": "Acme Kettle 1.7L Steel", "brand": "", "category_path": ["Home", "Kitchen", "Acme Kettle 1.7L"]},
        {"title_en": "Acme Toaster", "brand": "", "category_path": ["Home", "Kitchen", "Toasters"]},
        {"title_en": "Bolt Runner 2 Shoe", "brand": "Bolt Runner", "category_path": ["Sports", "Shoes"]},
        {"title_en": "Bolt Runner 3 Shoe", "brand": "", "category_path": ["Sports", "Shoes"]},
        {"title_en": "The Zephyr Fan", "brand": "", "category_path": ["Home"]},
    ]
    ground_catalog(rows)
    # a leaf that is the product's own name is not its category; "Toasters", a category of one, is
    assert [r["category"] for r in rows] == ["kitchen", "toasters", "shoes", "shoes", "home"]
    assert [r["brand"] for r in rows] == ["Acme", "Acme", "Bolt Runner", "Bolt Runner", "Zephyr"]
    assert [r.get("brand_inferred", False) for r in rows] == [True, True, False, True, True]


@pytest.mark.parametrize(
    "path",
    [
        REPO / "tests" / "fixtures" / "amazon_sample.csv",
        REPO.parent / "shared" / "data" / "amazon_product_sample_1000.csv",
    ],
)
def test_a_real_scraped_catalog_is_read_with_a_column_mapping_only(path):
    if not path.exists():
        pytest.skip(f"{path} is not on this machine")
    kept, quarantined, rows_in = read_scraped(path, STORE)
    assert rows_in == len(kept) + len(quarantined)
    assert len(kept) >= 0.85 * rows_in, quarantined[:5]  # only rows without a category or a price go
    assert all("category" in q or "price" in q for q in quarantined), quarantined[:5]
    for row in kept:
        assert row["regions"] == ["US"] and row["prices"]["US"] > 0
        assert row["brand"], row["title"]
        assert row["category"] in [p.lower() for p in row["category_path"]]  # a level of its own tree
        assert not names_the_product(row["category"], row["title"])  # never the product's own name
        assert row["source_id"]
    assert sum(bool(r["description"]) for r in kept) >= 0.9 * len(kept)  # about/description/details, joined
