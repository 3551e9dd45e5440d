"""How shoppers say things, for the cold start (coldstart.py): commerce synonyms, budget phrasings
and misspellings. Store-neutral: what a catalog adds (its own category names, its "ideal for"
phrases) is mined from it in coldstart.py.
"""

import math
import random
import re

from skutune.store import CURRENCY_WORDS

# catalog word (in a category name or title) -> what shoppers type instead
SYNONYMS = {
    "television": ["tv", "telly"],
    "refrigerator": ["fridge"],
    "smartphone": ["phone", "mobile"],
    "headphones": ["headset", "earphones"],
    "laptop": ["notebook computer"],
    "sofa": ["couch"],
    "sneakers": ["trainers", "running shoes"],
    "stuffed": ["plush", "soft toy"],
    "plush": ["plushie", "soft toy", "cuddly toy"],
    "teddy": ["teddy bear", "soft toy"],
    "remote": ["rc"],
    "jigsaw": ["puzzle"],
    "puzzles": ["puzzle"],
    "costumes": ["fancy dress", "dress up outfit"],
    "costume": ["fancy dress", "dress up outfit"],
    "figures": ["figurine", "toy figure"],
    "building": ["construction toy", "building blocks"],
    "dolls": ["doll"],
    "vehicles": ["toy car", "toy truck"],
    "die-cast": ["diecast car", "toy car"],
    "games": ["game"],
    "cards": ["card game"],
    "stickers": ["sticker", "decals"],
    "balloons": ["balloon"],
    "crafts": ["craft kit", "diy kit"],
    "kitchen": ["kitchenware"],
    "watch": ["smartwatch", "wristwatch"],
    "earbuds": ["earphones", "in ear headphones"],
}
MAX_CUES = {
    "train": ["under", "below", "less than", "upto", "max", "not more than"],
    "test": ["within", "up to", "at most", "cheaper than", "budget"],
}
NICE = (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 8, 10)
KEYBOARD = dict(zip("qwertyuiopasdfghjklzxcvbnm", "wqeryutoipsadgfhkjlxzcvnbm"))  # a key beside each
SOUNDS = (("ph", "f"), ("c", "k"), ("s", "z"), ("ee", "ea"), ("ie", "ei"), ("y", "i"), ("oo", "u"))


def nice_amount(price: float, step: int = 1) -> int:
    """A round budget just above `price`: 23.5 -> 25, 180 -> 200, 44,990 (step 5,000) -> 45,000."""
    if step > 1 and price >= step:
        return int((price // step + 1) * step)
    scale = 10 ** math.floor(math.log10(max(price, 1)))
    return int(next(n * scale for n in NICE if n * scale >= price))


def amount_forms(amt: int, code: str, symbol: str, rng: random.Random) -> str:
    """One way a shopper writes `amt`: "$1,200", "1200 dollars", "usd 1200", "1.2k", "rs 1200",
    "1.5 lakh" (INR), or the bare number."""
    words = [w for w in CURRENCY_WORDS.get(code, ()) if w.isalpha()] or [code.lower()]
    plain, grouped = str(amt), f"{amt:,}"
    forms = [f"{symbol}{grouped}", f"{symbol}{plain}", f"{plain} {rng.choice(words)}", f"{rng.choice(words)} {plain}"]
    forms.append(plain)
    if amt >= 1000 and amt % 100 == 0:
        forms.append(f"{amt / 1000:g}k")
    if code == "INR" and amt >= 100000 and amt % 10000 == 0:
        forms.append(f"{amt / 100000:g} lakh")
    return rng.choice([f for f in forms if f.strip()])


def misspell_word(word: str, rng: random.Random) -> str:
    """One typing or spelling slip in a word of four letters or more: a letter dropped, doubled,
    swapped with the next, replaced by a neighbouring key, or a sound spelt another way."""
    if len(word) < 4 or not word.isalpha():
        return word
    k = rng.randrange(1, len(word) - 1)
    sound = [(a, b) for a, b in SOUNDS if a in word[1:]]
    op = rng.choice(["drop", "double", "swap", "key"] + (["sound"] if sound else []))
    if op == "drop":
        return word[:k] + word[k + 1 :]
    if op == "double":
        return word[:k] + word[k] + word[k:]
    if op == "swap" and word[k] != word[k + 1 :][:1]:
        return word[:k] + word[k + 1] + word[k] + word[k + 2 :]
    if op == "sound":
        a, b = rng.choice(sound)
        return word[0] + word[1:].replace(a, b, 1)
    return word[:k] + KEYBOARD.get(word[k], word[k]) + word[k + 1 :]


def misspell_query(text: str, rng: random.Random, protect: set[str] = frozenset()) -> str:
    """The query with its longest word (a brand or a noun, not a number) misspelt."""
    words = text.split()
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha() and w not in protect]
    if not candidates:
        return text
    i = max(candidates, key=lambda j: (len(words[j]), -j))
    words[i] = misspell_word(words[i], rng)
    return " ".join(words)


def short_name(title: str, brand: str, n: int) -> str:
    """How a shopper names a product from its long title: its first `n` words after the brand,
    without sizes in brackets or what follows a comma or a dash."""
    text = re.split(r"\s[-–|]\s|,|\(|\[", title.lower())[0]
    low_brand = brand.lower()
    if low_brand and text.startswith(low_brand + " "):
        text = text[len(low_brand) + 1 :]
    words = [w.strip("\"'!:;.") for w in text.split()]
    return " ".join([w for w in words if w][:n])
