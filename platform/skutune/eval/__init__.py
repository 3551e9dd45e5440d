"""Evaluate: catalog-grounded metrics, the BM25 and dense baselines, the forgetting check, the method comparison."""
