"""`silobridge bench`: the pipeline at scale beside its baselines (driver), each step in a
process of its own (steps), and the merge alone on many staged records (merge)."""
