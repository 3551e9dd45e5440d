"""The bundled Samsung-style catalog, generated deterministically (no downloads).

Each product *family* (Galaxy S24 Ultra, 345L Double Door Refrigerator, ...) expands into
SKUs by its variant axes (storage, colour, size ...). SKU ids are readable codes such as
`S24U-256-BK` or `RT345-SV`, the way real catalogs encode model, variant and colour.
"""

import itertools
import random
from dataclasses import dataclass, field

REGIONS = ("IN", "EU", "US")
CURRENCY = {"IN": "INR", "EU": "EUR", "US": "USD"}
SYMBOL = {"IN": "₹", "EU": "€", "US": "$"}
# Local price = INR price / rate, rounded to a .99 price point.
RATE = {"IN": 1.0, "EU": 90.0, "US": 83.0}
COLOURS = {"BK": "Black", "GY": "Gray", "SV": "Silver", "WH": "White", "GR": "Green", "BL": "Blue", "IX": "Inox"}
CATEGORY_JA = {
    "phone": "スマートフォン",
    "tablet": "タブレット",
    "laptop": "ノートパソコン",
    "tv": "テレビ",
    "refrigerator": "冷蔵庫",
    "washer": "洗濯機",
    "ac": "エアコン",
    "wearable": "ウェアラブル",
    "monitor": "モニター",
    "microwave": "電子レンジ",
    "soundbar": "サウンドバー",
}


@dataclass
class Family:
    code: str
    category: str
    name: str  # English family name, e.g. "Galaxy S24 Ultra"
    name_ja: str
    price_inr: int
    attrs: dict
    regions: tuple = REGIONS
    axes: dict = field(default_factory=dict)  # axis name -> list of (code, label, price delta INR, attr overrides)
    tags: tuple = ()  # use cases the family is the right answer for (gaming, students, ...)
    aliases: tuple = ()  # how shoppers type the model code


def _storage(*sizes, step=10000):
    return [(str(s), f"{s}GB", i * step, {"storage_gb": s}) for i, s in enumerate(sizes)]


def _sizes(*inches, step=30000, unit="in"):
    return [
        (str(s), f'{s}"' if unit == "in" else f"{s}mm", i * step, {"screen_in" if unit == "in" else "case_mm": s})
        for i, s in enumerate(inches)
    ]


def _colours(*codes):
    return [(c, COLOURS[c], 0, {"colour": COLOURS[c]}) for c in codes]


PHONE = dict(five_g=True, refresh_hz=120)
FAMILIES = [
    # phones
    Family(
        "S24U",
        "phone",
        "Galaxy S24 Ultra",
        "ギャラクシー S24 ウルトラ",
        129999,
        dict(
            PHONE,
            camera_mp=200,
            zoom_x=100,
            battery_mah=5000,
            wireless_charging_w=15,
            screen_in=6.8,
            s_pen=True,
            chip="Snapdragon 8 Gen 3",
        ),
        axes={"storage": _storage(256, 512, 1024), "colour": _colours("BK", "GY", "SV")},
        tags=("gaming", "night_photography", "flagship", "zoom"),
        aliases=("s24 ultra", "s24u", "galaxy s24 ultra"),
    ),
    Family(
        "S24P",
        "phone",
        "Galaxy S24+",
        "ギャラクシー S24+",
        99999,
        dict(
            PHONE,
            camera_mp=50,
            zoom_x=30,
            battery_mah=4900,
            wireless_charging_w=15,
            screen_in=6.7,
            s_pen=False,
            chip="Exynos 2400",
        ),
        axes={"storage": _storage(256, 512), "colour": _colours("BK", "GY", "SV")},
        aliases=("s24 plus", "s24+", "galaxy s24 plus"),
    ),
    Family(
        "S24",
        "phone",
        "Galaxy S24",
        "ギャラクシー S24",
        79999,
        dict(
            PHONE,
            camera_mp=50,
            zoom_x=30,
            battery_mah=4000,
            wireless_charging_w=15,
            screen_in=6.2,
            s_pen=False,
            chip="Exynos 2400",
        ),
        axes={"storage": _storage(128, 256), "colour": _colours("BK", "GY", "GR")},
        tags=("compact",),
        aliases=("s24", "galaxy s24"),
    ),
    Family(
        "S23U",
        "phone",
        "Galaxy S23 Ultra",
        "ギャラクシー S23 ウルトラ",
        109999,
        dict(
            PHONE,
            camera_mp=200,
            zoom_x=100,
            battery_mah=5000,
            wireless_charging_w=15,
            screen_in=6.8,
            s_pen=True,
            chip="Snapdragon 8 Gen 2",
        ),
        axes={"storage": _storage(256, 512), "colour": _colours("BK", "GR")},
        aliases=("s23 ultra", "s23u", "galaxy s23 ultra"),
    ),
    Family(
        "S23",
        "phone",
        "Galaxy S23",
        "ギャラクシー S23",
        64999,
        dict(
            PHONE,
            camera_mp=50,
            zoom_x=30,
            battery_mah=3900,
            wireless_charging_w=10,
            screen_in=6.1,
            s_pen=False,
            chip="Snapdragon 8 Gen 2",
        ),
        axes={"storage": _storage(128, 256), "colour": _colours("BK", "GR", "WH")},
        aliases=("s23", "galaxy s23"),
    ),
    Family(
        "S23FE",
        "phone",
        "Galaxy S23 FE",
        "ギャラクシー S23 FE",
        49999,
        dict(
            PHONE,
            camera_mp=50,
            zoom_x=30,
            battery_mah=4500,
            wireless_charging_w=15,
            screen_in=6.4,
            s_pen=False,
            chip="Exynos 2200",
        ),
        axes={"storage": _storage(128, 256), "colour": _colours("BK", "GR", "WH")},
        aliases=("s23 fe", "galaxy s23 fe"),
    ),
    Family(
        "ZFD6",
        "phone",
        "Galaxy Z Fold6",
        "ギャラクシー Z フォールド6",
        164999,
        dict(
            PHONE,
            camera_mp=50,
            zoom_x=30,
            battery_mah=4400,
            wireless_charging_w=15,
            screen_in=7.6,
            s_pen=True,
            foldable=True,
            chip="Snapdragon 8 Gen 3",
        ),
        axes={"storage": _storage(256, 512), "colour": _colours("BK", "SV", "BL")},
        tags=("foldable", "business"),
        aliases=("z fold6", "fold 6", "galaxy z fold 6"),
    ),
    Family(
        "ZFL6",
        "phone",
        "Galaxy Z Flip6",
        "ギャラクシー Z フリップ6",
        109999,
        dict(
            PHONE,
            camera_mp=50,
            zoom_x=10,
            battery_mah=4000,
            wireless_charging_w=15,
            screen_in=6.7,
            s_pen=False,
            foldable=True,
            chip="Snapdragon 8 Gen 3",
        ),
        axes={"storage": _storage(256, 512), "colour": _colours("BL", "GR")},
        tags=("foldable", "compact"),
        aliases=("z flip6", "flip 6", "galaxy z flip 6"),
    ),
    Family(
        "A55",
        "phone",
        "Galaxy A55 5G",
        "ギャラクシー A55",
        39999,
        dict(
            PHONE,
            camera_mp=50,
            zoom_x=10,
            battery_mah=5000,
            wireless_charging_w=0,
            screen_in=6.6,
            s_pen=False,
            chip="Exynos 1480",
        ),
        axes={"storage": _storage(128, 256, step=3000), "colour": _colours("BL", "BK", "WH")},
        tags=("budget_camera",),
        aliases=("a55", "galaxy a55"),
    ),
    Family(
        "A35",
        "phone",
        "Galaxy A35 5G",
        "ギャラクシー A35",
        30999,
        dict(
            PHONE,
            camera_mp=50,
            zoom_x=10,
            battery_mah=5000,
            wireless_charging_w=0,
            screen_in=6.6,
            s_pen=False,
            chip="Exynos 1380",
        ),
        axes={"storage": _storage(128, 256, step=3000), "colour": _colours("BL", "BK", "WH")},
        aliases=("a35", "galaxy a35"),
    ),
    Family(
        "A15",
        "phone",
        "Galaxy A15",
        "ギャラクシー A15",
        13999,
        dict(
            camera_mp=50,
            zoom_x=2,
            battery_mah=5000,
            wireless_charging_w=0,
            screen_in=6.5,
            s_pen=False,
            five_g=False,
            refresh_hz=90,
            chip="Helio G99",
        ),
        axes={"storage": _storage(128, step=0), "colour": _colours("BK", "BL", "GR")},
        regions=("IN", "EU"),
        tags=("senior", "cheap"),
        aliases=("a15", "galaxy a15"),
    ),
    Family(
        "M34",
        "phone",
        "Galaxy M34 5G",
        "ギャラクシー M34",
        16999,
        dict(
            PHONE,
            camera_mp=50,
            zoom_x=2,
            battery_mah=6000,
            wireless_charging_w=0,
            screen_in=6.5,
            s_pen=False,
            chip="Exynos 1280",
        ),
        axes={"storage": _storage(128, step=0), "colour": _colours("BL", "GR")},
        regions=("IN",),
        tags=("battery", "cheap"),
        aliases=("m34", "galaxy m34"),
    ),
    # tablets
    Family(
        "TS9U",
        "tablet",
        "Galaxy Tab S9 Ultra",
        "ギャラクシータブ S9 ウルトラ",
        108999,
        dict(screen_in=14.6, s_pen=True, battery_mah=11200, refresh_hz=120),
        axes={
            "storage": _storage(256, 512),
            "conn": [("WF", "Wi-Fi", 0, {"five_g": False}), ("5G", "5G", 12000, {"five_g": True})],
        },
        tags=("drawing", "movies"),
        aliases=("tab s9 ultra", "galaxy tab s9 ultra"),
    ),
    Family(
        "TS9",
        "tablet",
        "Galaxy Tab S9",
        "ギャラクシータブ S9",
        72999,
        dict(screen_in=11.0, s_pen=True, battery_mah=8400, refresh_hz=120),
        axes={
            "storage": _storage(128, 256),
            "conn": [("WF", "Wi-Fi", 0, {"five_g": False}), ("5G", "5G", 12000, {"five_g": True})],
        },
        tags=("drawing", "ipad_alternative"),
        aliases=("tab s9", "galaxy tab s9"),
    ),
    Family(
        "TS9FE",
        "tablet",
        "Galaxy Tab S9 FE",
        "ギャラクシータブ S9 FE",
        36999,
        dict(screen_in=10.9, s_pen=True, battery_mah=8000, refresh_hz=90),
        axes={
            "storage": _storage(128, 256, step=4000),
            "conn": [("WF", "Wi-Fi", 0, {"five_g": False}), ("5G", "5G", 8000, {"five_g": True})],
        },
        tags=("study",),
        aliases=("tab s9 fe", "galaxy tab s9 fe"),
    ),
    Family(
        "TA9P",
        "tablet",
        "Galaxy Tab A9+",
        "ギャラクシータブ A9+",
        18999,
        dict(screen_in=11.0, s_pen=False, battery_mah=7040, refresh_hz=90),
        axes={
            "storage": _storage(64, 128, step=3000),
            "conn": [("WF", "Wi-Fi", 0, {"five_g": False}), ("5G", "5G", 5000, {"five_g": True})],
        },
        tags=("kids", "cheap"),
        aliases=("tab a9+", "tab a9 plus", "galaxy tab a9 plus"),
    ),
    # laptops
    Family(
        "GB4P",
        "laptop",
        "Galaxy Book4 Pro",
        "ギャラクシーブック4 プロ",
        131990,
        dict(screen_in=14.0, ram_gb=16, hdmi21=True, weight_kg=1.23, battery_wh=63, oled=True),
        axes={
            "ram": [("16", "16GB RAM", 0, {"ram_gb": 16}), ("32", "32GB RAM", 25000, {"ram_gb": 32})],
            "colour": _colours("GY", "SV"),
        },
        tags=("business", "macbook_alternative"),
        aliases=("book4 pro", "galaxy book 4 pro"),
    ),
    Family(
        "GB4X",
        "laptop",
        "Galaxy Book4 Pro 360",
        "ギャラクシーブック4 プロ 360",
        163990,
        dict(screen_in=16.0, ram_gb=16, hdmi21=True, weight_kg=1.66, battery_wh=76, oled=True, convertible=True),
        axes={
            "ram": [("16", "16GB RAM", 0, {"ram_gb": 16}), ("32", "32GB RAM", 25000, {"ram_gb": 32})],
            "colour": _colours("GY", "SV"),
        },
        tags=("drawing", "creator"),
        aliases=("book4 pro 360", "galaxy book 4 pro 360"),
    ),
    Family(
        "GB4",
        "laptop",
        "Galaxy Book4",
        "ギャラクシーブック4",
        70990,
        dict(screen_in=15.6, ram_gb=8, hdmi21=False, weight_kg=1.55, battery_wh=54, oled=False),
        axes={
            "ram": [("8", "8GB RAM", 0, {"ram_gb": 8}), ("16", "16GB RAM", 10000, {"ram_gb": 16})],
            "colour": _colours("GY", "SV"),
        },
        tags=("students", "study"),
        aliases=("book4", "galaxy book 4"),
    ),
    Family(
        "GB4E",
        "laptop",
        "Galaxy Book4 Edge",
        "ギャラクシーブック4 エッジ",
        123990,
        dict(screen_in=14.0, ram_gb=16, hdmi21=True, weight_kg=1.16, battery_wh=61, oled=True),
        axes={
            "ram": [("16", "16GB RAM", 0, {"ram_gb": 16}), ("32", "32GB RAM", 25000, {"ram_gb": 32})],
            "colour": _colours("SV", "BK"),
        },
        tags=("battery_life",),
        aliases=("book4 edge", "galaxy book 4 edge"),
    ),
    # TVs
    Family(
        "QN90D",
        "tv",
        "Neo QLED 4K QN90D TV",
        "ネオ QLED 4K テレビ",
        139990,
        dict(resolution="4K", panel="Neo QLED", refresh_hz=144, hdmi21=True),
        axes={"size": _sizes(55, 65, 75, 85, step=60000)},
        tags=("sports", "gaming_tv"),
        aliases=("qn90d", "neo qled qn90d"),
    ),
    Family(
        "QN800D",
        "tv",
        "Neo QLED 8K QN800D TV",
        "ネオ QLED 8K テレビ",
        329990,
        dict(resolution="8K", panel="Neo QLED", refresh_hz=120, hdmi21=True),
        axes={"size": _sizes(65, 75, 85, step=100000)},
        tags=("premium_tv",),
        aliases=("qn800d", "8k tv qn800d"),
    ),
    Family(
        "S90D",
        "tv",
        "OLED S90D TV",
        "有機EL テレビ S90D",
        164990,
        dict(resolution="4K", panel="OLED", refresh_hz=144, hdmi21=True),
        axes={"size": _sizes(55, 65, 77, step=70000)},
        tags=("movies", "lg_oled_alternative"),
        aliases=("s90d", "oled s90d"),
    ),
    Family(
        "LS03D",
        "tv",
        "The Frame LS03D TV",
        "ザ・フレーム テレビ",
        69990,
        dict(resolution="4K", panel="QLED", refresh_hz=120, hdmi21=False, art_mode=True),
        axes={"size": _sizes(43, 55, 65, step=35000)},
        tags=("decor",),
        aliases=("the frame", "frame tv"),
    ),
    Family(
        "CU8000",
        "tv",
        "Crystal UHD CU8000 TV",
        "クリスタル UHD テレビ",
        32990,
        dict(resolution="4K", panel="LED", refresh_hz=60, hdmi21=False),
        axes={"size": _sizes(43, 50, 55, 65, step=12000)},
        tags=("cheap",),
        aliases=("cu8000", "crystal uhd"),
    ),
    Family(
        "Q60D",
        "tv",
        "QLED Q60D TV",
        "QLED テレビ Q60D",
        49990,
        dict(resolution="4K", panel="QLED", refresh_hz=60, hdmi21=False),
        axes={"size": _sizes(43, 55, 65, step=20000)},
        aliases=("q60d", "qled q60d"),
    ),
    # refrigerators (code carries the capacity, as Samsung's RT/RS/RF codes do)
    Family(
        "RT345",
        "refrigerator",
        "345L Double Door Refrigerator",
        "345L 冷蔵庫",
        44990,
        dict(capacity_l=345, door="double door", energy_stars=3, inverter=True, family_size=4),
        axes={"colour": _colours("SV", "BK", "GY")},
        regions=("IN",),
        tags=("family_4",),
        aliases=("rt345",),
    ),
    Family(
        "RT415",
        "refrigerator",
        "415L Double Door Refrigerator",
        "415L 冷蔵庫",
        56990,
        dict(capacity_l=415, door="double door", energy_stars=3, inverter=True, family_size=5),
        axes={"colour": _colours("SV", "BK", "GY")},
        regions=("IN", "EU"),
        tags=("big_fridge",),
        aliases=("rt415",),
    ),
    Family(
        "RT300",
        "refrigerator",
        "300L Top Freezer Refrigerator",
        "300L 冷蔵庫",
        32990,
        dict(capacity_l=300, door="double door", energy_stars=2, inverter=True, family_size=3),
        axes={"colour": _colours("SV", "GY")},
        regions=("IN",),
        tags=("cheap",),
        aliases=("rt300",),
    ),
    Family(
        "RR192",
        "refrigerator",
        "192L Single Door Refrigerator",
        "192L 冷蔵庫",
        17990,
        dict(capacity_l=192, door="single door", energy_stars=5, inverter=True, family_size=2),
        axes={"colour": _colours("BL", "SV", "GY")},
        regions=("IN",),
        tags=("small_fridge", "cheap"),
        aliases=("rr192",),
    ),
    Family(
        "RS653",
        "refrigerator",
        "653L Side by Side Refrigerator",
        "653L サイドバイサイド 冷蔵庫",
        89990,
        dict(capacity_l=653, door="side by side", energy_stars=3, inverter=True, family_size=6),
        axes={"colour": _colours("SV", "BK")},
        tags=("big_fridge",),
        aliases=("rs653",),
    ),
    Family(
        "RF550",
        "refrigerator",
        "550L French Door Refrigerator",
        "550L フレンチドア 冷蔵庫",
        119990,
        dict(capacity_l=550, door="french door", energy_stars=4, inverter=True, family_size=6),
        axes={"colour": _colours("SV", "BK")},
        regions=("EU", "US"),
        tags=("big_fridge", "premium_fridge"),
        aliases=("rf550",),
    ),
    Family(
        "RB344",
        "refrigerator",
        "344L Bottom Mount Fridge Freezer",
        "344L 冷凍冷蔵庫",
        54990,
        dict(capacity_l=344, door="bottom mount", energy_stars=4, inverter=True, family_size=4),
        axes={"colour": _colours("SV", "WH")},
        regions=("EU",),
        tags=("family_4",),
        aliases=("rb344",),
    ),
    # washing machines
    Family(
        "WW10",
        "washer",
        "10kg AI EcoBubble Front Load Washer",
        "10kg 洗濯機",
        52990,
        dict(capacity_kg=10.0, loading="front load", energy_stars=5, inverter=True, dryer=False),
        axes={"colour": _colours("WH", "IX", "GY")},
        tags=("big_family",),
        aliases=("ww10",),
    ),
    Family(
        "WW8",
        "washer",
        "8kg Front Load Washer",
        "8kg 洗濯機",
        36990,
        dict(capacity_kg=8.0, loading="front load", energy_stars=5, inverter=True, dryer=False),
        axes={"colour": _colours("WH", "IX", "GY")},
        aliases=("ww8",),
    ),
    Family(
        "WA7",
        "washer",
        "7kg Fully Automatic Top Load Washer",
        "7kg 洗濯機",
        21990,
        dict(capacity_kg=7.0, loading="top load", energy_stars=5, inverter=True, dryer=False),
        axes={"colour": _colours("WH", "GY")},
        regions=("IN", "US"),
        aliases=("wa7",),
    ),
    Family(
        "WT75",
        "washer",
        "7.5kg Semi-Automatic Washer",
        "7.5kg 二槽式洗濯機",
        13990,
        dict(capacity_kg=7.5, loading="semi-automatic", energy_stars=3, inverter=False, dryer=False),
        axes={"colour": _colours("WH", "BL")},
        regions=("IN",),
        tags=("cheap",),
        aliases=("wt75",),
    ),
    Family(
        "WD11",
        "washer",
        "11kg Washer Dryer",
        "11kg 洗濯乾燥機",
        74990,
        dict(capacity_kg=11.0, loading="front load", energy_stars=4, inverter=True, dryer=True),
        axes={"colour": _colours("WH", "IX")},
        regions=("EU", "US"),
        tags=("big_family",),
        aliases=("wd11",),
    ),
    # air conditioners
    Family(
        "AR15F5",
        "ac",
        "1.5 Ton 5 Star Inverter Split AC",
        "1.5トン エアコン",
        46990,
        dict(tonnage=1.5, energy_stars=5, inverter=True, windfree=False),
        axes={"wifi": [("N", "", 0, {"wifi": False}), ("W", "Wi-Fi", 2500, {"wifi": True})]},
        regions=("IN",),
        tags=("efficient",),
        aliases=("ar15f5",),
    ),
    Family(
        "AR15F3",
        "ac",
        "1.5 Ton 3 Star Inverter Split AC",
        "1.5トン エアコン",
        36990,
        dict(tonnage=1.5, energy_stars=3, inverter=True, windfree=False),
        axes={"wifi": [("N", "", 0, {"wifi": False}), ("W", "Wi-Fi", 2500, {"wifi": True})]},
        regions=("IN",),
        aliases=("ar15f3",),
    ),
    Family(
        "AR10F3",
        "ac",
        "1 Ton 3 Star Inverter Split AC",
        "1トン エアコン",
        31990,
        dict(tonnage=1.0, energy_stars=3, inverter=True, windfree=False),
        axes={"wifi": [("N", "", 0, {"wifi": False}), ("W", "Wi-Fi", 2500, {"wifi": True})]},
        regions=("IN",),
        tags=("small_room",),
        aliases=("ar10f3",),
    ),
    Family(
        "AR20W5",
        "ac",
        "2 Ton 5 Star WindFree Inverter Split AC",
        "2トン 無風 エアコン",
        64990,
        dict(tonnage=2.0, energy_stars=5, inverter=True, windfree=True),
        axes={"wifi": [("N", "", 0, {"wifi": False}), ("W", "Wi-Fi", 2500, {"wifi": True})]},
        regions=("IN",),
        tags=("big_room", "efficient"),
        aliases=("ar20w5",),
    ),
    Family(
        "AR15X3",
        "ac",
        "1.5 Ton 3 Star Fixed Speed Split AC",
        "1.5トン 定速 エアコン",
        29990,
        dict(tonnage=1.5, energy_stars=3, inverter=False, windfree=False),
        axes={"wifi": [("N", "", 0, {"wifi": False})]},
        regions=("IN",),
        tags=("cheap",),
        aliases=("ar15x3",),
    ),
    Family(
        "AR12HP",
        "ac",
        "WindFree Heat Pump Air Conditioner 3.5kW",
        "無風 ヒートポンプ エアコン",
        79990,
        dict(tonnage=1.0, energy_stars=5, inverter=True, windfree=True, heat_pump=True),
        axes={"wifi": [("W", "Wi-Fi", 0, {"wifi": True})]},
        regions=("EU", "US"),
        tags=("efficient",),
        aliases=("ar12hp", "windfree heat pump"),
    ),
    # wearables
    Family(
        "GW7",
        "wearable",
        "Galaxy Watch7",
        "ギャラクシーウォッチ7",
        29999,
        dict(kind="smartwatch", lte=False, battery_mah=425, health_sensors=True),
        axes={
            "size": [("40", "40mm", 0, {"case_mm": 40}), ("44", "44mm", 3000, {"case_mm": 44})],
            "conn": [("BT", "Bluetooth", 0, {"lte": False}), ("LTE", "LTE", 5000, {"lte": True})],
        },
        tags=("fitness", "apple_watch_alternative"),
        aliases=("watch7", "galaxy watch 7"),
    ),
    Family(
        "GW6C",
        "wearable",
        "Galaxy Watch6 Classic",
        "ギャラクシーウォッチ6 クラシック",
        36999,
        dict(kind="smartwatch", lte=False, battery_mah=425, health_sensors=True),
        axes={
            "size": [("43", "43mm", 0, {"case_mm": 43}), ("47", "47mm", 3000, {"case_mm": 47})],
            "conn": [("BT", "Bluetooth", 0, {"lte": False}), ("LTE", "LTE", 5000, {"lte": True})],
        },
        aliases=("watch6 classic", "galaxy watch 6 classic"),
    ),
    Family(
        "GWU",
        "wearable",
        "Galaxy Watch Ultra",
        "ギャラクシーウォッチ ウルトラ",
        59999,
        dict(kind="smartwatch", lte=True, battery_mah=590, health_sensors=True, case_mm=47),
        axes={"colour": _colours("GY", "WH", "SV")},
        tags=("outdoor",),
        aliases=("watch ultra", "galaxy watch ultra"),
    ),
    Family(
        "BUDS3P",
        "wearable",
        "Galaxy Buds3 Pro",
        "ギャラクシーバッズ3 プロ",
        19999,
        dict(kind="earbuds", anc=True, battery_mah=53),
        axes={"colour": _colours("SV", "WH")},
        tags=("music", "airpods_alternative"),
        aliases=("buds3 pro", "buds 3 pro"),
    ),
    Family(
        "BUDS2P",
        "wearable",
        "Galaxy Buds2 Pro",
        "ギャラクシーバッズ2 プロ",
        14999,
        dict(kind="earbuds", anc=True, battery_mah=61),
        axes={"colour": _colours("BK", "WH")},
        aliases=("buds2 pro", "buds 2 pro"),
    ),
    Family(
        "FIT3",
        "wearable",
        "Galaxy Fit3",
        "ギャラクシーフィット3",
        4999,
        dict(kind="fitness band", lte=False, battery_mah=208, health_sensors=True),
        axes={"colour": _colours("GY", "SV")},
        tags=("fitness", "cheap"),
        aliases=("fit3", "galaxy fit 3"),
    ),
    Family(
        "RING",
        "wearable",
        "Galaxy Ring",
        "ギャラクシーリング",
        38999,
        dict(kind="smart ring", health_sensors=True),
        axes={"size": [(str(s), f"size {s}", 0, {"ring_size": s}) for s in (8, 9, 10, 11, 12)]},
        regions=("EU", "US"),
        tags=("sleep",),
        aliases=("galaxy ring", "samsung ring"),
    ),
    # monitors
    Family(
        "G95SD",
        "monitor",
        "Odyssey OLED G9 Gaming Monitor",
        "オデッセイ OLED G9 モニター",
        149999,
        dict(resolution="Dual QHD", refresh_hz=240, panel="OLED", hdmi21=True, curved=True),
        axes={"size": _sizes(49, step=0)},
        tags=("gaming_monitor",),
        aliases=("odyssey g9", "g95sd"),
    ),
    Family(
        "G70D",
        "monitor",
        "Odyssey G7 4K Gaming Monitor",
        "オデッセイ G7 モニター",
        54999,
        dict(resolution="4K", refresh_hz=144, panel="IPS", hdmi21=True, curved=False),
        axes={"size": _sizes(28, 32, step=10000)},
        tags=("gaming_monitor",),
        aliases=("odyssey g7", "g70d"),
    ),
    Family(
        "G50D",
        "monitor",
        "Odyssey G5 QHD Gaming Monitor",
        "オデッセイ G5 モニター",
        25999,
        dict(resolution="QHD", refresh_hz=180, panel="IPS", hdmi21=False, curved=False),
        axes={"size": _sizes(27, 32, step=6000)},
        tags=("gaming_monitor", "cheap"),
        aliases=("odyssey g5", "g50d"),
    ),
    Family(
        "M80D",
        "monitor",
        "Smart Monitor M8",
        "スマートモニター M8",
        49999,
        dict(resolution="4K", refresh_hz=60, panel="VA", hdmi21=False, curved=False, smart_tv_apps=True),
        axes={"size": _sizes(27, 32, step=8000), "colour": _colours("WH", "GR")},
        tags=("work_from_home",),
        aliases=("smart monitor m8", "m80d"),
    ),
    Family(
        "S80D",
        "monitor",
        "ViewFinity S8 4K Monitor",
        "ビューフィニティ S8 モニター",
        34999,
        dict(resolution="4K", refresh_hz=60, panel="IPS", hdmi21=False, curved=False),
        axes={"size": _sizes(27, 32, step=8000)},
        tags=("creator", "work_from_home"),
        aliases=("viewfinity s8", "s80d"),
    ),
    Family(
        "S33",
        "monitor",
        "Essential S3 FHD Monitor",
        "エッセンシャル S3 モニター",
        9999,
        dict(resolution="FHD", refresh_hz=75, panel="IPS", hdmi21=False, curved=False),
        axes={"size": _sizes(24, 27, step=3000)},
        tags=("cheap",),
        aliases=("essential s3", "s33"),
    ),
    # microwaves
    Family(
        "MC32",
        "microwave",
        "32L Convection Microwave Oven",
        "32L オーブンレンジ",
        17990,
        dict(capacity_l=32, kind="convection", grill=True),
        axes={"colour": _colours("BK", "SV")},
        tags=("big_family",),
        aliases=("mc32",),
    ),
    Family(
        "MC28",
        "microwave",
        "28L Convection Microwave Oven",
        "28L オーブンレンジ",
        13990,
        dict(capacity_l=28, kind="convection", grill=True),
        axes={"colour": _colours("BK", "SV")},
        aliases=("mc28",),
    ),
    Family(
        "MG23",
        "microwave",
        "23L Grill Microwave Oven",
        "23L グリル電子レンジ",
        8990,
        dict(capacity_l=23, kind="grill", grill=True),
        axes={"colour": _colours("BK", "WH")},
        tags=("cheap",),
        aliases=("mg23",),
    ),
    Family(
        "MS20",
        "microwave",
        "20L Solo Microwave Oven",
        "20L 単機能電子レンジ",
        5990,
        dict(capacity_l=20, kind="solo", grill=False),
        axes={"colour": _colours("WH", "BK")},
        tags=("small_kitchen", "cheap"),
        aliases=("ms20",),
    ),
    # soundbars
    Family(
        "Q990D",
        "soundbar",
        "Q990D 11.1.4ch Soundbar",
        "Q990D サウンドバー",
        159990,
        dict(channels="11.1.4", dolby_atmos=True, watts=656),
        axes={
            "colour": _colours(
                "BK",
            )
        },
        tags=("home_theatre",),
        aliases=("q990d",),
    ),
    Family(
        "Q800D",
        "soundbar",
        "Q800D 5.1.2ch Soundbar",
        "Q800D サウンドバー",
        69990,
        dict(channels="5.1.2", dolby_atmos=True, watts=360),
        axes={
            "colour": _colours(
                "BK",
            )
        },
        aliases=("q800d",),
    ),
    Family(
        "B650D",
        "soundbar",
        "B650D 3.1ch Soundbar",
        "B650D サウンドバー",
        24990,
        dict(channels="3.1", dolby_atmos=False, watts=430),
        axes={"colour": _colours("BK", "WH")},
        tags=("cheap",),
        aliases=("b650d",),
    ),
]


def local_price(price_inr: int, region: str) -> float:
    if region == "IN":
        return float(price_inr)
    return float(int(price_inr / RATE[region]) + 0.99)


def _faq(fam: Family, attrs: dict) -> list[dict]:
    """FAQ facts the Q&A examples are answered from (and only from)."""
    a, faq = attrs, []
    if "wireless_charging_w" in a:
        w = a["wireless_charging_w"]
        faq.append(
            {
                "topic": "wireless_charging",
                "q": f"Does {fam.name} support wireless charging?",
                "a": f"yes, Qi wireless charging up to {w}W" if w else "no",
                "value": "yes" if w else "no",
            }
        )
    if "five_g" in a:
        faq.append(
            {
                "topic": "5g",
                "q": f"Is {fam.name} 5G?",
                "a": "yes" if a["five_g"] else "no",
                "value": "yes" if a["five_g"] else "no",
            }
        )
    if "hdmi21" in a:
        faq.append(
            {
                "topic": "hdmi21",
                "q": f"Does {fam.name} have HDMI 2.1?",
                "a": "yes" if a["hdmi21"] else "no",
                "value": "yes" if a["hdmi21"] else "no",
            }
        )
    if "battery_mah" in a and fam.category in ("phone", "tablet"):
        faq.append(
            {
                "topic": "battery",
                "q": f"What is the battery of {fam.name}?",
                "a": f"{a['battery_mah']}mAh",
                "value": f"{a['battery_mah']}mAh",
            }
        )
    if "inverter" in a:
        faq.append(
            {
                "topic": "inverter",
                "q": f"Does {fam.name} have an inverter compressor?",
                "a": "yes" if a["inverter"] else "no",
                "value": "yes" if a["inverter"] else "no",
            }
        )
    if "energy_stars" in a:
        faq.append(
            {
                "topic": "energy",
                "q": f"What is the energy rating of {fam.name}?",
                "a": f"{a['energy_stars']} star",
                "value": f"{a['energy_stars']} star",
            }
        )
    if "camera_mp" in a:
        faq.append(
            {
                "topic": "camera",
                "q": f"How many megapixels is the main camera of {fam.name}?",
                "a": f"{a['camera_mp']}MP",
                "value": f"{a['camera_mp']}MP",
            }
        )
    return faq


def _skus(fam: Family, rank: int) -> list[dict]:
    axes = list(fam.axes.values()) or [[("", "", 0, {})]]
    rows = []
    for combo in itertools.product(*axes):
        codes = [c[0] for c in combo if c[0]]
        labels = [c[1] for c in combo if c[1]]
        attrs = dict(fam.attrs)
        for c in combo:
            attrs.update(c[3])
        price = fam.price_inr + sum(c[2] for c in combo)
        sized = fam.category in ("tv", "monitor")
        size = f'{attrs["screen_in"]:g}" ' if sized else ""
        labels = [lab for lab in labels if not (sized and lab.endswith('"'))]
        title_en = f"Samsung {size}{fam.name}" + (f" ({', '.join(labels)})" if labels else "")
        cat_ja = CATEGORY_JA[fam.category]
        title_ja = f"サムスン {size}{fam.name_ja}" + ("" if cat_ja in fam.name_ja else f" {cat_ja}")
        rows.append(
            {
                "sku": "-".join([fam.code, *codes]),
                "brand": "Samsung",
                "family": fam.code,
                "family_name": fam.name,
                "category": fam.category,
                "title_en": title_en,
                "title_ja": title_ja,
                "title": f"{title_en} [{title_ja}]",
                "prices": {r: local_price(price, r) for r in fam.regions},
                "regions": list(fam.regions),
                "attributes": attrs,
                "tags": list(fam.tags),
                "faq": _faq(fam, attrs),
                "popularity": rank,
            }
        )
    return rows


def build_catalog(seed: int = 7) -> list[dict]:
    """All SKUs, deterministic for a seed (the seed only sets ratings)."""
    rng = random.Random(seed)
    rows = []
    for rank, fam in enumerate(FAMILIES):
        for row in _skus(fam, rank):
            row["rating"] = round(rng.uniform(3.8, 4.9), 1)
            rows.append(row)
    return rows


def families() -> dict[str, Family]:
    return {f.code: f for f in FAMILIES}
