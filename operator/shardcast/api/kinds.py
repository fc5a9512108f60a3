"""Group, version and names of the shardcast kinds: one place, shared by handlers and tests."""

GROUP = "shardcast.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

SHARDS = "shards"
POLICIES = "migrationpolicies"
MIGRATIONS = "shardmigrations"

FINALIZER = f"{GROUP}/finalizer"
