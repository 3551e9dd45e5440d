"""Curate: read, validate and quarantine, filter, dedup, decontaminate, grade, distil and tokenize (Ray Data)."""
