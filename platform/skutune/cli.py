"""What every job script shares: `--config`, `--set key=value` overrides, logging, and a
clean exit (status 2, message on stderr) for a bad config before any Ray work starts."""

import argparse
import logging
import sys

import yaml

from skutune.config import ConfigError, JobConfig, load_config


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


def job_args(doc: str, argv=None) -> argparse.Namespace:
    parser = new_parser(doc)
    parser.add_argument("--config", required=True, help="job config YAML (see jobs/configs/)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.epochs=2 (repeatable)")
    return parser.parse_args(argv)


def setup(args: argparse.Namespace) -> JobConfig:
    start_logging()
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            sys.exit(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key] = yaml.safe_load(value)
    return config_or_exit(load_config, args.config, overrides)
