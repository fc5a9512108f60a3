"""Discrete-time replay of real per-shard load on a cluster, to compare move policies (pure)."""
