"""The `skutune` command, and what every job script shares: `--config` (a path or a shipped config's
name), `--set key=value` overrides, logging, and a clean exit (status 2, message on stderr) for a
bad config before any Ray work starts.

    skutune curate --config demo                 # jobs/configs/demo.yaml
    skutune train --config demo --set train.epochs=1
    skutune config --print --config demo         # the resolved config
    skutune config --schema                      # JSON Schema of every config key, with its description
"""

import argparse
import json
import logging
import os
import runpy
import sys
from pathlib import Path

import yaml

from skutune.config import ConfigError, JobConfig, load_config
from skutune.runtime.paths import REPO_ROOT

CONFIGS = REPO_ROOT / "jobs" / "configs"
LOOPBACK = ("127.0.0.1", "localhost", "::1")  # `skutune serve` binds anything else only with a token
# subcommands whose work lives in a job script of its own (jobs/<name>.py): their flags pass through
SCRIPTS = {
    "fresh-skus": "fresh_skus",
    "compare-methods": "compare_methods",
    "task-adapters": "task_adapters",
    "bench": "bench_train",
    "bench-byo": "bench_byo",
    "bench-parse-cache": "bench_parse_cache",
    "demo": "demo",
}


def new_parser(doc: str) -> argparse.ArgumentParser:
    """A job's parser: its module docstring (usage examples included) is the --help text."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def start_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def config_or_exit(load, *args):
    """`load(*args)`, or exit with status 2 and the config error on stderr (before Ray starts)."""
    try:
        return load(*args)
    except ConfigError as err:
        print(f"config error: {err}", file=sys.stderr)
        sys.exit(2)


def config_path(ref: str) -> Path:
    """A config file: a path, or the name of a shipped config ("demo" -> jobs/configs/demo.yaml)."""
    for candidate in (Path(ref), CONFIGS / ref, CONFIGS / f"{ref}.yaml"):
        if candidate.is_file():
            return candidate
    return Path(ref)  # load_config names it in its error


def _add_config_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument(
        "--config", required=required, help="job config: a YAML path or a shipped name (demo, tiny, byo_catalog, ...)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.epochs=2 (repeatable)",
    )


def job_args(doc: str, argv=None, flags: dict[str, str] | None = None) -> argparse.Namespace:
    """--config and --set, plus a job's own on/off `flags` ({"--name": help})."""
    parser = new_parser(doc)
    _add_config_args(parser)
    for flag, help_ in (flags or {}).items():
        parser.add_argument(flag, action="store_true", help=help_)
    return parser.parse_args(argv)


def overrides_of(items: list[str]) -> dict:
    """--set KEY=VALUE items as {key: YAML value}; exits naming a malformed one."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    return overrides


def setup(args: argparse.Namespace) -> JobConfig:
    start_logging()
    return config_or_exit(load_config, config_path(args.config), overrides_of(args.set))


def run_stage(name: str, doc: str, argv=None) -> dict:
    """A stage of skutune.pipeline on the parsed `--config`: what `jobs/<stage>.py` runs."""
    from skutune.pipeline import STAGES

    cfg = setup(job_args(doc, argv))  # validated here, before Ray starts
    return STAGES[name](cfg)


def _serve(args) -> None:
    """The Serve app over the run's catalog, index, adapters and store profile, until Ctrl-C."""
    import time

    from ray import serve

    from skutune.runtime.cluster import init_ray
    from skutune.serve.app import build_app
    from skutune.serve.args import run_app_args

    cfg = setup(args)
    if cfg.serve.host not in LOOPBACK and not os.environ.get("SKUTUNE_API_TOKEN"):
        sys.exit(f"skutune serve: refusing to listen on {cfg.serve.host} without a token: set SKUTUNE_API_TOKEN")
    init_ray()
    serve.start(http_options={"host": cfg.serve.host, "port": cfg.serve.port})
    serve.run(
        build_app(run_app_args(cfg, followed=True)),  # a replica downloads a run in object storage
        name="skutune",
        route_prefix="/",
    )
    print(f"serving http://{cfg.serve.host}:{cfg.serve.port}/ (Ctrl-C stops)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()


def _config(args) -> None:
    if args.schema:
        print(json.dumps(JobConfig.model_json_schema(), indent=2, ensure_ascii=False))
        return
    if not args.config:
        sys.exit("skutune config: --print needs --config (or use --schema)")
    print(yaml.safe_dump(setup(args).model_dump(mode="json"), sort_keys=False, allow_unicode=True), end="")


def main(argv=None) -> None:
    from skutune.pipeline import STAGES

    parser = new_parser(__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, fn in STAGES.items():
        _add_config_args(sub.add_parser(name, help=fn.__doc__.split("\n")[0], description=fn.__doc__))
    _add_config_args(
        sub.add_parser("serve", help="the Serve app on a run's catalog, index and adapters (Ctrl-C stops)")
    )
    for name, script in SCRIPTS.items():
        sub.add_parser(name, help=f"jobs/{script}.py (its own flags follow; --help shows them)", add_help=False)
    sub.add_parser(
        "import-model",
        help="convert the embedded model's GGUF into a safetensors directory (once; --force)",
        add_help=False,
    )
    cfg_parser = sub.add_parser("config", help="show the resolved config, or the JSON Schema of every key")
    _add_config_args(cfg_parser, required=False)
    cfg_parser.add_argument("--print", action="store_true", help="print the resolved config (the default)")
    cfg_parser.add_argument("--schema", action="store_true", help="print the JSON Schema of a job config")

    args, rest = parser.parse_known_args(argv)
    if args.command in SCRIPTS:  # the job script parses its own flags
        sys.argv = [f"jobs/{SCRIPTS[args.command]}.py", *rest]
        runpy.run_path(str(REPO_ROOT / "jobs" / f"{SCRIPTS[args.command]}.py"), run_name="__main__")
        return
    if args.command == "import-model":  # its own flags (--force)
        from skutune.runtime.model_import import main as import_model

        import_model(rest, prog="skutune import-model")
        return
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "config":
        _config(args)
    elif args.command == "serve":
        _serve(args)
    else:
        STAGES[args.command](setup(args))


if __name__ == "__main__":
    main()
