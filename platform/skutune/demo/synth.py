"""Synthetic catalogs shaped like the bundled one (same categories, attribute names, regions and
price scale), for SKUs that arrive after training and for the 100,000-SKU search benchmark.

Every family gets a new model name (never one of the bundled names) and expands into colour
and storage/size variants; SKU ids follow the bundled `FAMILY-VARIANT-COLOUR` pattern.
"""

import random

from skutune.demo.catalog import CATEGORY_JA, COLOURS, REGIONS, local_price

# category -> (name pattern, INR price range, attribute choices, variant axis (attr, values, price step))
SPECS = {
    "phone": (
        "Galaxy {L}{n} {s}",
        (9000, 150000),
        {
            "camera_mp": [50, 64, 108, 200],
            "battery_mah": [4000, 4500, 5000, 6000],
            "five_g": [True, False],
            "screen_in": [6.1, 6.4, 6.7, 6.8],
            "wireless_charging_w": [0, 15],
            "s_pen": [False, True],
        },
        ("storage_gb", [128, 256, 512], 8000),
    ),
    "tablet": (
        "Galaxy Tab {L}{n} {s}",
        (12000, 110000),
        {"screen_in": [8.7, 11.0, 12.4, 14.6], "s_pen": [True, False], "battery_mah": [7040, 8000, 10090]},
        ("storage_gb", [64, 128, 256], 5000),
    ),
    "laptop": (
        "Galaxy Book{n} {s} {L}",
        (45000, 180000),
        {"screen_in": [14.0, 15.6, 16.0], "hdmi21": [True, False], "oled": [True, False], "weight_kg": [1.1, 1.3, 1.6]},
        ("ram_gb", [8, 16, 32], 15000),
    ),
    "tv": (
        "{L}{n} {s} Smart TV",
        (25000, 350000),
        {
            "resolution": ["4K", "8K"],
            "panel": ["QLED", "Neo QLED", "OLED", "LED"],
            "refresh_hz": [60, 120, 144],
            "hdmi21": [True, False],
        },
        ("screen_in", [43, 55, 65, 75, 85], 25000),
    ),
    "refrigerator": (
        "Bespoke {L}{n} {s} Refrigerator",
        (15000, 150000),
        {
            "door": ["single door", "double door", "side by side", "french door"],
            "energy_stars": [2, 3, 4, 5],
            "inverter": [True, False],
            "family_size": [2, 3, 4, 5, 6],
        },
        ("capacity_l", [190, 250, 340, 415, 650], 9000),
    ),
    "washer": (
        "EcoBubble {L}{n} {s} Washer",
        (12000, 90000),
        {
            "loading": ["front load", "top load", "semi-automatic"],
            "energy_stars": [3, 4, 5],
            "inverter": [True, False],
            "dryer": [False, True],
        },
        ("capacity_kg", [7.0, 8.0, 9.0, 11.0], 4000),
    ),
    "ac": (
        "WindFree {L}{n} {s} AC",
        (28000, 90000),
        {"energy_stars": [3, 5], "inverter": [True, False], "windfree": [True, False], "wifi": [True, False]},
        ("tonnage", [1.0, 1.5, 2.0], 6000),
    ),
    "wearable": (
        "Galaxy Watch {L}{n} {s}",
        (4000, 60000),
        {"kind": ["smartwatch", "fitness band"], "lte": [True, False], "health_sensors": [True]},
        ("case_mm", [40, 44, 47], 3000),
    ),
    "monitor": (
        "Odyssey {L}{n} {s} Monitor",
        (9000, 150000),
        {
            "resolution": ["FHD", "QHD", "4K"],
            "refresh_hz": [60, 144, 180, 240],
            "panel": ["IPS", "VA", "OLED"],
            "curved": [True, False],
        },
        ("screen_in", [24, 27, 32, 49], 6000),
    ),
    "microwave": (
        "{L}{n} {s} Microwave Oven",
        (5000, 25000),
        {"kind": ["solo", "grill", "convection"], "grill": [True, False]},
        ("capacity_l", [20, 23, 28, 32], 2000),
    ),
    "soundbar": (
        "{L}{n} {s} Soundbar",
        (12000, 160000),
        {"channels": ["2.1", "3.1", "5.1.2", "11.1.4"], "dolby_atmos": [True, False], "watts": [300, 430, 656]},
        ("colour_code", ["BK"], 0),
    ),
}
SUFFIXES = ["Pro", "Ultra", "Plus", "Lite", "Max", "Neo", "Edge", "Prime"]
LETTERS = "BCDHJKNPRTVXYZ"


def _family(rng: random.Random, i: int, prefix: str) -> tuple[str, str, str, dict, tuple, int, tuple]:
    category = list(SPECS)[i % len(SPECS)]
    pattern, (lo, hi), choices, axis = SPECS[category]
    code = f"{prefix}{i:05d}"
    name = pattern.format(
        L=LETTERS[(i // len(SPECS)) % len(LETTERS)],
        n=i // (len(SPECS) * len(LETTERS)) + 10,
        s=SUFFIXES[i % len(SUFFIXES)],
    )
    attrs = {k: rng.choice(v) for k, v in choices.items()}
    regions = tuple(r for r in REGIONS if rng.random() < 0.8) or ("IN",)
    return code, category, name, attrs, axis, rng.randrange(lo, hi, 1000) - 10, regions


def synth_catalog(n_skus: int, seed: int = 0, prefix: str = "N", first_family: int = 0) -> list[dict]:
    """`n_skus` new SKUs (exactly), deterministic for a seed; family codes start with `prefix`.
    Family names depend on the family number only: catalogs meant to be searched together
    (a catalog and the SKUs added to it later) take disjoint ranges via `first_family`."""
    rng = random.Random(seed)
    rows, i = [], first_family
    while len(rows) < n_skus:
        code, category, name, attrs, (axis, values, step), price, regions = _family(rng, i, prefix)
        colours = rng.sample(sorted(COLOURS), 2)
        for v_i, value in enumerate(values[: rng.randint(1, len(values))]):
            for colour in colours:
                if len(rows) == n_skus:
                    break
                a = dict(attrs, **({axis: value} if axis != "colour_code" else {}), colour=COLOURS[colour])
                variant = f"{value}".replace(".", "") if axis != "colour_code" else ""
                label = {
                    "storage_gb": f"{value}GB",
                    "ram_gb": f"{value}GB RAM",
                    "screen_in": f'{value}"',
                    "capacity_l": f"{value}L",
                    "capacity_kg": f"{value}kg",
                    "tonnage": f"{value} Ton",
                    "case_mm": f"{value}mm",
                }.get(axis, "")
                title = f"Samsung {name} ({', '.join(x for x in (label, COLOURS[colour]) if x)})"
                rows.append(
                    {
                        "sku": "-".join(x for x in (code, variant, colour) if x),
                        "brand": "Samsung",
                        "family": code,
                        "family_name": name,
                        "category": category,
                        "title_en": title,
                        "title_ja": f"サムスン {name} {CATEGORY_JA[category]}",
                        "title": title,
                        "prices": {r: local_price(price + v_i * step, r) for r in regions},
                        "regions": list(regions),
                        "attributes": a,
                        "tags": [],
                        "faq": [],
                        "rating": round(rng.uniform(3.8, 4.9), 1),
                        "popularity": i,
                    }
                )
        i += 1
    return rows
