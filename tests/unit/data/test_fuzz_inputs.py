"""Property-based bad input for everything a user hands skutune besides HTTP bodies (those are in
test_serve_fuzz.py): job configs, catalog rows, labelled example rows and query-log rows, with
wrong types, missing and unknown keys, huge strings, control characters and bytes that are not
UTF-8. Each must give a clear error (ConfigError naming the key) or a quarantine reason, never an
exception, and every batch must come out with as many rows as went in.

Found with them: the PII scrub's e-mail pattern tried every position of a long word again (a
100,000-character log query took 16 s, a run of digits 40 s; the log test took 131 s in a full
run). Reading that code then showed an epoch timestamp out of range raising OverflowError past
validation, and reasons that quoted whole megabyte values."""

import json

import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import CONFIGS, demo_store
from skutune.config import ConfigError, parse_config
from skutune.data.curate import validate_catalog
from skutune.data.querylog import validate_log
from skutune.data.stages import ingest
from skutune.demo.catalog import build_catalog
from skutune.demo.examples import build_examples
from skutune.runtime.paths import bad_row

TINY = yaml.safe_load((CONFIGS / "tiny.yaml").read_text())
CATALOG = build_catalog()
EXAMPLES = build_examples()[:50]
KNOWN = {r["sku"] for r in CATALOG}
LOG_ROW = {
    "query": "samzung fridge",
    "sku": CATALOG[0]["sku"],
    "clicks": 3,
    "impressions": 10,
    "timestamp": "2026-10-01T10:00:00",
    "region": "IN",
}
TRIED = {"configs": 0, "catalog": 0, "examples": 0, "log": 0}
SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)

junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(
        ["", " ", "\x00", "\u202e", "x" * 100_000, "1 " * 50_000, "9" * 5_000, "１２３", "NaN", "-1", "1e309"]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def _paths(data: dict, prefix=()) -> list[tuple]:
    out = []
    for key, value in data.items():
        out.append(prefix + (key,))
        if isinstance(value, dict):
            out += _paths(value, prefix + (key,))
    return out


def _get(data: dict, path: tuple):
    for key in path:
        data = data[key]
    return data


def _set(data: dict, path: tuple, value) -> dict:
    data = json.loads(json.dumps(data))
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return data


@st.composite
def bad_configs(draw):
    """tiny.yaml with one value replaced by junk, one unknown key added, or a section replaced."""
    path = draw(st.sampled_from(_paths(TINY)))
    how = draw(st.sampled_from(["value", "unknown", "section"]))
    if how == "unknown":
        return _set(TINY, path[:-1] + (draw(st.sampled_from(["nmae", "epoch", "lr_rate", "\x00", "x" * 300])),), 1)
    if how == "section":
        return _set(TINY, path[:1], draw(junk))
    return _set(TINY, path, draw(junk))


@st.composite
def mutated_rows(draw, base_rows, extra_keys=("sku", "region", "target", "prices")):
    """A valid row with fields replaced by junk or removed, as a JSON line; or a broken line."""
    row = dict(draw(st.sampled_from(base_rows)))
    for key in draw(st.lists(st.sampled_from(sorted(set(row) | set(extra_keys))), min_size=1, max_size=3)):
        if draw(st.booleans()):
            row.pop(key, None)
        else:
            row[key] = draw(junk)
    line = json.dumps(row, ensure_ascii=draw(st.booleans()), allow_nan=True)
    return draw(
        st.sampled_from(
            [
                line,
                line[: draw(st.integers(0, max(0, len(line) - 1)))],  # cut off
                bad_row(f"not valid UTF-8 (byte {draw(st.integers(0, 50))})", line),  # as data/readers.py marks one
                json.dumps(draw(junk), allow_nan=True),  # valid JSON, not an object
                draw(st.text(max_size=200)),  # not JSON
            ]
        )
    )


NUMBER_PATHS = [
    p for p in _paths(TINY) if isinstance(_get(TINY, p), int | float) and not isinstance(_get(TINY, p), bool)
]


@SETTINGS
@given(path=st.sampled_from(NUMBER_PATHS), value=st.sampled_from([True, False, float("nan"), float("inf"), "many"]))
def test_junk_in_a_number_is_always_a_config_error(path, value):
    """Not coerced: pydantic's lax mode read `epochs: true` as 1 and let NaN through."""
    with pytest.raises(ConfigError, match=".".join(map(str, path[-1:]))):
        parse_config(_set(TINY, path, value), "fuzz.yaml")


@SETTINGS
@given(data=bad_configs())
def test_bad_configs_fail_with_a_config_error(data):
    TRIED["configs"] += 1
    try:
        parse_config(data, "fuzz.yaml")
    except ConfigError as err:
        assert str(err).startswith("fuzz.yaml") and len(str(err)) < 5000  # names the file, bounded even for huge values


@SETTINGS
@given(
    lines=st.lists(
        mutated_rows(CATALOG, ("sku", "title", "prices", "regions", "rating", "category")), min_size=1, max_size=4
    )
)
def test_bad_catalog_rows_are_validated_or_quarantined(lines):
    TRIED["catalog"] += len(lines)
    for line in lines:
        out = validate_catalog({"row_json": line}, {}, demo_store())
        assert bool(out["error"]) != bool(out["key"])  # a reason, or a valid row with its SKU
        if out["error"]:
            assert out["row_json"] == line and len(out["error"]) < 5000  # kept whole for quarantine.jsonl


@SETTINGS
@given(
    lines=st.lists(
        mutated_rows(EXAMPLES, ("query", "target", "kind", "region", "split", "relevant")), min_size=1, max_size=4
    )
)
def test_bad_example_rows_are_quarantined_and_counted(lines):
    TRIED["examples"] += len(lines)
    cfg = parse_config(TINY)
    out = ingest(pd.DataFrame({"row_json": lines}), "examples", {}, KNOWN, cfg.curate, cfg.store)
    assert len(out) == len(lines)  # rows in = rows out, each kept or marked with why it is dropped
    for _, row in out.iterrows():
        assert row["drop"] == "" or ": " in row["drop"]  # "<stage>: <reason>"


@SETTINGS
@given(
    lines=st.lists(
        mutated_rows([LOG_ROW], ("query", "clicks", "timestamp", "region", "impressions")), min_size=1, max_size=4
    )
)
def test_bad_log_rows_are_quarantined_and_counted(lines):
    TRIED["log"] += len(lines)
    out = validate_log({"row_json": lines}, {}, KNOWN, ["IN", "EU", "US"])
    assert len(out) == len(lines)
    for error, query in zip(out["error"], out["query"]):
        assert bool(error) != bool(query) and len(error) < 500  # a short reason, or a parsed row


def test_fuzz_tried_over_a_thousand_bad_inputs():
    """Run after the four above in this module: the inputs they generated, 0 crashes."""
    assert all(TRIED.values()) and sum(TRIED.values()) >= 1000, TRIED
    print(f"\nbad inputs tried: {TRIED} (+ the HTTP bodies of test_serve_fuzz.py)")
