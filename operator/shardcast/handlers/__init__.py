"""kopf handlers: thin glue that observes through `clients`, decides with pure code, patches status.

Importing this package registers every handler (this is what `kopf run -m shardcast.handlers` does).
"""

# isort: off
# settings first: kopf runs startup handlers in the order they were registered, and the others
# read the memo's settings its startup handler puts there.
from shardcast.handlers import settings
from shardcast.handlers import consensus, indexes, metrics, migrations, policies, shards
# isort: on

__all__ = ["consensus", "indexes", "metrics", "migrations", "policies", "settings", "shards"]
