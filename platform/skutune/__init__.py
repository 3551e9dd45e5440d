"""skutune: catalog-grounded supervised fine-tuning for e-commerce search on Ray."""

__version__ = "0.1.0"
