"""Every shipped config loads; mistakes fail early, naming the key and the file."""

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from helpers import CONFIGS, REPO, python_exe
from skutune.config import ConfigError, load_compare_config, load_config

COMPARE = CONFIGS / "compare.yaml"  # a list of method variants, not one job
BENCH = CONFIGS / "bench.yaml"  # a job plus the benchmark's peers
SHIPPED = sorted(p for p in CONFIGS.rglob("*.yaml") if p not in (COMPARE, BENCH) and p.parent.name != "stores")
TASK_ADAPTERS = {
    "search",
    "typo",
    "comparison",
    "seasonal-diwali",
    "seasonal-back-to-school",
    "seasonal-galaxy-unpacked",
    "regional-in",
    "regional-eu",
}


def test_configs_are_shipped():
    assert {p.name for p in SHIPPED} >= {"demo.yaml", "tiny.yaml"}
    assert {p.stem for p in (CONFIGS / "adapters").glob("*.yaml")} == TASK_ADAPTERS


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_every_shipped_config_loads(path):
    cfg = load_config(path)
    assert cfg.run.name
    if path.parent.name == "adapters":  # one shared run; the task names the adapter
        assert cfg.run.name == "adapters" and cfg.train.task == path.stem


def test_method_comparison_config_has_every_method():
    from skutune.train.methods import METHODS

    _, jobs = load_compare_config(COMPARE)
    assert {c.method.name for c in jobs.values()} == set(METHODS)
    assert {c.train.strategy for c in jobs.values() if c.method.name == "full"} == {"ddp", "fsdp2", "zero2", "zero3"}
    assert (
        len({c.train.max_steps * c.train.batch_size * c.train.num_workers for c in jobs.values()}) == 1
    )  # one token budget


def test_bench_config_loads_and_names_bad_keys(tmp_path):
    from skutune.train.bench import load_bench_config

    bench = load_bench_config(BENCH)
    assert bench.job_config().train.packing and not bench.job_config(packing=False).train.packing
    bad = tmp_path / "bench.yaml"
    bad.write_text(BENCH.read_text().replace("pack_length: 256", "pack_lenght: 256"))
    with pytest.raises(ConfigError, match="unknown key 'train.pack_lenght'"):
        load_bench_config(bad)


def test_packing_settings_are_checked():
    with pytest.raises(ConfigError, match="method 'prefix' cannot train with train.packing"):
        load_config(CONFIGS / "tiny.yaml", {"method": {"name": "prefix"}, "train.packing": True})
    with pytest.raises(ConfigError, match=r"train.pack_length \(100\) must hold the longest example"):
        load_config(CONFIGS / "tiny.yaml", {"train.packing": True, "train.pack_length": 100})


def test_method_keys_are_checked_per_method_and_strategy(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'method.r'"):
        load_config(CONFIGS / "tiny.yaml", {"method": {"name": "prefix", "r": 8}})
    with pytest.raises(ConfigError, match="method 'qlora' cannot train with strategy 'zero3': its 4-bit"):
        load_config(CONFIGS / "tiny.yaml", {"method": {"name": "qlora"}, "train.strategy": "zero3"})
    with pytest.raises(ConfigError, match="unknown kind"):
        load_config(CONFIGS / "tiny.yaml", {"train.slice": {"kinds": ["typos"]}})


def test_unknown_key_names_key_and_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load((CONFIGS / "tiny.yaml").read_text())
    data["train"]["lr_rate"] = 0.1
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert "unknown key 'train.lr_rate'" in str(err.value) and str(bad) in str(err.value)


def test_wrong_type_is_rejected(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: {name: x}\ntrain: {epochs: many}\n")
    with pytest.raises(ConfigError, match="train.epochs"):
        load_config(bad)


@pytest.mark.parametrize(
    "key, junk",
    [
        ("train.epochs", True),
        ("train.lr", True),
        ("train.grad_clip", float("nan")),
        ("train.lr", float("inf")),
        ("train.warmup_steps", -5),
        ("train.weight_decay", -0.1),
        ("train.grad_clip", 0),
    ],
)
def test_junk_numbers_are_config_errors_not_coerced(key, junk):
    """pydantic's lax mode read `epochs: true` as 1 and `lr: true` as 1.0, and let NaN through."""
    with pytest.raises(ConfigError, match=key):
        load_config(CONFIGS / "tiny.yaml", {key: junk})


@pytest.mark.parametrize("job", ["curate.py", "train.py", "eval.py"])
def test_job_rejects_bad_config_before_ray_starts(tmp_path, job):
    bad = tmp_path / "typo.yaml"
    bad.write_text("run: {name: typo}\nmethod: {nmae: lora}\n")
    proc = subprocess.run(
        [python_exe(), f"jobs/{job}", "--config", str(bad)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "unknown key 'method.nmae'" in proc.stderr and "typo.yaml" in proc.stderr
    assert "Ray" not in proc.stdout + proc.stderr.replace("typo.yaml", "")  # no cluster was started


def test_serve_refuses_a_public_address_without_a_token():
    env = {k: v for k, v in os.environ.items() if k != "SKUTUNE_API_TOKEN"}
    proc = subprocess.run(
        [str(Path(python_exe()).parent / "skutune"), "serve", "--config", "tiny", "--set", "serve.host=0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode != 0 and "refusing to listen on 0.0.0.0 without a token" in proc.stderr
    assert "Ray" not in proc.stdout + proc.stderr  # it stopped before starting anything


def test_override_with_set_is_validated():
    with pytest.raises(ConfigError, match="unknown key 'train.nope'"):
        load_config(CONFIGS / "tiny.yaml", {"train.nope": 1})


def test_serve_args_reject_unknown_key():
    from pydantic import ValidationError

    from skutune.serve.app import build_app

    with pytest.raises(ValidationError, match="adapter_dir"):
        build_app({"adapter_dir": "typo"})


def test_serve_config_is_a_valid_serve_deploy_config():
    """serve/config.yaml parses as Ray Serve's deploy schema and its args as the app's AppArgs."""
    from ray.serve.schema import ServeDeploySchema

    from skutune.serve.app import AppArgs

    config = ServeDeploySchema.model_validate(yaml.safe_load((REPO / "serve" / "config.yaml").read_text()))
    (app,) = config.applications
    args = AppArgs.model_validate(app.args)
    assert app.import_path == "skutune.serve.app:build_app" and args.constrained and args.max_loaded_adapters == 8
    assert app.deployments[0].autoscaling_config["max_replicas"] > app.deployments[0].autoscaling_config["min_replicas"]
    assert not {"token", "auth_token", "api_key"} & set(app.args) and args.auth_token_env == "SKUTUNE_API_TOKEN"


def test_cluster_yaml_is_valid_for_rays_launcher(tmp_path):
    import jsonschema

    from skutune.runtime.cluster import load_cluster_yaml

    cluster = load_cluster_yaml(REPO / "cluster.yaml")
    types = cluster["available_node_types"]
    assert not types[cluster["head_node_type"]]["resources"].get("GPU")
    gpu_types = [t for t in types.values() if t["resources"].get("GPU")]
    assert len(gpu_types) >= 2 and all(t["max_workers"] > t["min_workers"] for t in gpu_types)  # they autoscale
    assert any("pip install" in c and "-e ." in c for c in cluster["setup_commands"]) and cluster["file_mounts"]
    head = " ".join(cluster["head_start_ray_commands"])  # the Jobs API runs code: never on every interface
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in head
    for command in cluster["head_start_ray_commands"] + cluster["worker_start_ray_commands"]:
        assert command.startswith(("RAY_AUTH_MODE=token ~/skutune/.venv/bin/ray start", "~/skutune/.venv/bin/ray stop"))
    assert cluster["file_mounts"]["/home/ubuntu/.ray/auth_token"] == "~/.ray/auth_token"
    assert "auth_token" in cluster["setup_commands"][0]  # a node without the token stops at setup
    synced_never = set(cluster["rsync_exclude"])
    assert {"**/.venv", "**/runs", "**/.cache"} <= synced_never and cluster["rsync_filter"] == [".gitignore"]
    bad = {**cluster, "available_node_types": {**types, "gpu_1x": {**types["gpu_1x"], "max_worker": 4}}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        load_cluster_yaml(tmp_path / "bad.yaml")


def test_readme_shows_the_node_type_each_shipped_config_needs(monkeypatch):
    """The README's table is what the configs' resources and cluster.yaml give, not a guess."""
    from skutune.runtime.cluster import placement_table

    monkeypatch.chdir(REPO)
    paths = sorted(CONFIGS.glob("*.yaml")) + sorted((CONFIGS / "adapters").glob("*.yaml"))
    table = placement_table([p.relative_to(REPO) for p in paths], REPO / "cluster.yaml")
    assert table in (REPO / "README.md").read_text(), table
