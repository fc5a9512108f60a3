"""Move planning: which shards to move where, and why, from forecasts of their load (pure)."""
