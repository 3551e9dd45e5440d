"""Serve: the Ray Serve app (args, routes, gateway), its model engine, constrained decoding, registry and operations."""
