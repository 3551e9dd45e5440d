"""`serve run serve.app:build_app` from the repo root; the app itself is installed with the package."""

from skutune.serve.app import build_app

__all__ = ["build_app"]
