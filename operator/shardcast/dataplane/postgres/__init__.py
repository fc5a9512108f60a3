"""The PostgreSQL data plane: a shard is a schema on one PostgreSQL 15 server; a move copies
its schema to the target, streams its rows by logical replication, fences the source at
cutover and carries sequences over. See docs/dataplane-postgres.md."""
