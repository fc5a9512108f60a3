"""shardcast: move data shards before load arrives, not after."""

__version__ = "0.1.0"
