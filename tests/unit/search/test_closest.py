"""A parsed brand or category in the catalog's own spelling, or nothing."""

import pytest

from skutune.search.grounded import closest

BRANDS = {"samsung", "lego", "funko", "melissa & doug", "lg"}


@pytest.mark.parametrize(
    "parsed, expected",
    [
        ("Samsung", "samsung"),
        ("samsng", "samsung"),  # a misspelling the model echoed
        ("samzung", "samsung"),
        ("Legoo", "lego"),
        ("melisa & doug", "melissa & doug"),
        ("LG", "lg"),  # short names match exactly or not at all
        ("hp", None),
        ("apple", None),  # a brand the catalog lacks filters nothing
        ("", None),
        (None, None),
    ],
)
def test_closest_brand(parsed, expected):
    assert closest(parsed, BRANDS) == expected


def test_closest_category_plural_and_case():
    assert closest("Refrigerators", {"refrigerator", "phone", "tv"}) == "refrigerator"
    assert closest("fridge", {"refrigerator", "phone", "tv"}) is None  # a synonym is not a spelling
