"""Starting or joining Ray the same way in every job."""

import json
import logging
import math
import os
from pathlib import Path

import ray

log = logging.getLogger(__name__)


def configure_data() -> None:
    """This process's Ray Data settings, which its datasets carry to their tasks."""
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # they redraw per update and flood job logs; jobs print their own progress
    # Ray 2.60's default Parquet reader (DataSourceV2: ListFiles -> ReadFiles) spent about 2 s
    # more than the V1 reader on each small read here (a 120-row write and read back: 2.5 s
    # against 0.55 s), and curate reads back every stage it checkpoints: the tiny config's
    # curate took 38.7 s warm against 14.4 s with V1, the same rows in the same files.
    ctx.use_datasource_v2 = False


def init_ray(cpus_needed: float = 0) -> None:
    """Join the cluster a job was submitted to (RAY_ADDRESS is set by `ray job submit`), or
    start a local one. Locally the CPU count is raised to leave one logical CPU for Ray
    Data's read tasks beside the training workers; torch thread counts are set explicitly,
    so this over-subscribes nothing real."""
    if ray.is_initialized():
        return
    configure_data()
    if os.environ.get("RAY_ADDRESS"):
        ray.init()
        return
    cores = os.cpu_count() or 1
    # The dashboard's processes poll metrics all the time: measured on 2 cores, they cost a
    # training worker ~5% of its speed. SKUTUNE_RAY_DASHBOARD=1 starts it anyway. "local": a new
    # cluster of this job's own, never the last one `ray start` left on the machine (which
    # ray.init() would join silently, sized for something else).
    ray.init(
        address="local",
        num_cpus=max(cores, int(cpus_needed) + 1),
        include_dashboard=os.environ.get("SKUTUNE_RAY_DASHBOARD") == "1",
    )
    log.info("started a local Ray with %s logical CPUs on %s cores", ray.cluster_resources().get("CPU"), cores)


def has_dashboard() -> bool:
    """Whether the Ray this process joined runs the dashboard, which serves Ray's state API
    (ray.util.state): a local Ray started by init_ray does not, unless SKUTUNE_RAY_DASHBOARD=1."""
    return bool(ray._private.worker.get_dashboard_url())


def load_cluster_yaml(path) -> dict:
    """A Ray cluster launcher config, checked against the schema of the Ray that is installed."""
    import importlib.resources

    import jsonschema
    import yaml

    config = yaml.safe_load(Path(path).read_text())
    schema = json.loads((importlib.resources.files("ray") / "autoscaler" / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    return config


def worker_resources(cfg) -> dict[str, float]:
    """What one training worker of a job config asks Ray for. `use_gpu: auto` takes a GPU when the
    cluster has one, which an autoscaling cluster only has once a GPU node is up: shipped configs
    meant for GPU node types say `use_gpu: true`, and "auto" is shown as a GPU here."""
    return {"CPU": cfg.train.cpus_per_worker} | ({"GPU": 1} if cfg.train.use_gpu else {})


def placement(cfg, cluster: dict) -> tuple[str, int]:
    """The node type a job config's training workers fit, and how many such nodes: the smallest
    type that holds every worker at once, else the roomiest, as many as needed."""
    need, workers = worker_resources(cfg), cfg.train.num_workers

    def per_node(resources: dict) -> int:
        return min(int(resources.get(k, 0) // v) for k, v in need.items())

    types = {
        name: t["resources"] for name, t in cluster["available_node_types"].items() if per_node(t["resources"]) > 0
    }
    if not types:
        raise ValueError(f"no node type in the cluster config fits a worker needing {need}")
    whole = [n for n, r in types.items() if per_node(r) >= workers]
    if whole:
        name = min(whole, key=lambda n: (types[n].get("GPU", 0), types[n].get("CPU", 0)))
    else:
        name = max(types, key=lambda n: per_node(types[n]))
    return name, math.ceil(workers / per_node(types[name]))


def shipped_jobs(paths) -> dict[str, object]:
    """label -> JobConfig for job configs, a method comparison's variants ("compare.yaml: full-ddp")
    and a benchmark's job block ("bench.yaml")."""
    import yaml

    from skutune.config import load_compare_config, load_config, parse_config

    out = {}
    for path in map(Path, paths):
        data = yaml.safe_load(path.read_text()) or {}
        if "variants" in data:
            out |= {f"{path.as_posix()}: {label}": cfg for label, cfg in load_compare_config(path)[1].items()}
        elif "job" in data:
            out[path.as_posix()] = parse_config(data["job"], path)
        else:
            out[path.as_posix()] = load_config(path)
    return out


def placement_table(config_paths, cluster_path) -> str:
    """The README's table: each shipped config's training resources and the node type they need."""
    cluster = load_cluster_yaml(cluster_path)
    rows: dict[tuple, list[str]] = {}  # a comparison's variants that place alike share a row
    for label, cfg in shipped_jobs(config_paths).items():
        node, count = placement(cfg, cluster)
        each = ", ".join(f"{v:g} {k}" for k, v in worker_resources(cfg).items())
        gpu = " (use_gpu: auto)" if cfg.train.use_gpu == "auto" else ""
        path = label.split(": ")[0]
        rows.setdefault((path, f"{cfg.train.num_workers} × {each}{gpu}", f"`{node}` × {count}"), []).append(
            f"{cfg.method.name}, {cfg.train.strategy}"
        )
    lines = ["| job config | method, strategy | workers × resources each | node type × nodes |", "|---|---|---|---|"]
    lines += [
        f"| `{path}` | {'; '.join(dict.fromkeys(methods))} | {each} | {node} |"
        for (path, each, node), methods in rows.items()
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Which cluster.yaml node type each job config's training needs.")
    parser.add_argument("configs", nargs="+", help="job config YAMLs, e.g. jobs/configs/*.yaml")
    parser.add_argument("--cluster", default="cluster.yaml")
    args = parser.parse_args()
    print(placement_table(args.configs, args.cluster))
