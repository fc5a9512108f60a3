"""kopf handlers: thin glue that observes through `clients`, decides with pure code, patches status.

Importing this package registers every handler (this is what `kopf run -m shardcast.handlers` does).
"""

from shardcast.handlers import consensus, metrics, migrations, policies, settings, shards

__all__ = ["consensus", "metrics", "migrations", "policies", "settings", "shards"]
