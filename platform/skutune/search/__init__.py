"""Search: the versioned catalog index, retrieval inside facet filters, and grounded search over a parse."""
