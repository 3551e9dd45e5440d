"""`train.speed: auto` picks make bench's fastest settings for the run at hand."""

import pytest

from helpers import CONFIGS
from skutune.config import ConfigError, load_config, parse_config
from skutune.train.speed import COMPILE_MIN_STEPS, choose


def test_the_demo_trains_packed_and_compiled_with_about_the_same_examples_per_step():
    cfg = load_config(CONFIGS / "demo.yaml")
    assert cfg.train.speed == "auto" and not cfg.train.packing and not cfg.train.compile
    fast, line = choose(cfg, rows=1782, tokens=130563)  # the demo's closed-book rows (73 tokens each)
    t = fast.train
    assert t.packing and t.compile and t.pack_length == 256 and t.speed == "as_set"
    assert t.batch_size == 5  # 5 rows of 256 tokens hold ~17 examples of 73: the config's 16
    assert "packing on" in line and "compile on (224 steps" in line
    assert parse_config(fast.model_dump()).train == t  # the workers' copy reads back the same


def test_a_short_run_stays_eager_and_prompt_learning_stays_unpacked():
    cfg = load_config(CONFIGS / "demo.yaml", {"train.max_steps": COMPILE_MIN_STEPS - 1})
    assert not choose(cfg, rows=1782, tokens=130563)[0].train.compile
    prefix = load_config(CONFIGS / "demo.yaml", {"method": {"name": "prefix", "num_virtual_tokens": 8}})
    fast, line = choose(prefix, rows=1782, tokens=130563)
    assert not fast.train.packing and not fast.train.compile and fast.train.batch_size == 16
    assert "packing off (method prefix" in line


def test_auto_refuses_settings_it_would_overwrite():
    with pytest.raises(ConfigError, match="train.speed auto chooses compile"):
        load_config(CONFIGS / "demo.yaml", {"train.compile": True})
    assert load_config(CONFIGS / "demo.yaml", {"train.speed": "as_set", "train.compile": True}).train.compile
