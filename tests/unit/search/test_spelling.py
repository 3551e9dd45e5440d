"""The spelling corrector: misspelt catalog words become the catalog's spelling; words that are
not misspellings (the catalog's, the index's, English) stay as typed."""

import pytest

from skutune.search.spelling import Speller, phonetic, vocabulary

ROWS = [
    {
        "title_en": "Melissa & Doug Wooden Jigsaw Puzzle",
        "brand": "Melissa & Doug",
        "category_path": ["Toys", "Puzzles"],
    },
    {"title_en": "Hot Wheels Track Builder Set", "brand": "Hot Wheels", "category_path": ["Toys", "Vehicles"]},
    {"title_en": "Harry Potter Sorting Hat", "brand": "Harry Potter", "category_path": ["Toys", "Costumes"]},
    {"title_en": "Power Rangers Blaster", "brand": "Power Rangers", "category_path": ["Toys", "Blasters"]},
    {"title_en": "Power Wheels Ride-On Jeep", "brand": "Power Wheels", "category_path": ["Toys", "Ride-Ons"]},
    {"title_en": "Rubik's Cube 3x3", "brand": "Rubik's", "category_path": ["Toys", "Puzzles"]},
    {"title_en": "Galaxy Phone 128GB", "brand": "Acme", "category_path": ["Electronics", "Phones"]},
]
SPELLER = Speller(*vocabulary(ROWS), known={"cheap", "gift", "toddler", "for", "and", "the"})


@pytest.mark.parametrize(
    "typed, fixed",
    [
        ("melisa and doug puzle", "melissa and doug puzzle"),  # a letter dropped, twice
        ("hot weels track", "hot wheels track"),
        ("jigsaw puzzel", "jigsaw puzzle"),  # two letters swapped
        ("harry poter hat", "harry potter hat"),  # "power" is as close, but no title says "harry power"
        ("fone", "phone"),  # a sound spelt another way
        ("hotwheels", "hot wheels"),  # two catalog words run together
        ("rubiks cube", "rubik cube"),  # a possessive without its apostrophe
        ("cheap gift for toddler", "cheap gift for toddler"),  # known words are not misspellings
        ("lgo", "lgo"),  # too short to correct safely
        ("zzzzqqq", "zzzzqqq"),  # nothing close: left alone
        ("Galaxy 128GB", "galaxy 128gb"),
    ],
)
def test_correct(typed, fixed):
    assert SPELLER.correct(typed) == fixed


def test_phonetic_key():
    assert phonetic("fone") == phonetic("phone") and phonetic("kard") == phonetic("card")
    assert phonetic("fone") != phonetic("bone")
