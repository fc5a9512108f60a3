"""shardkv: a small sharded key-value store that follows shardcast's consensus record.

It exists to prove, with real processes, that a shardcast migration (announce, sync Job, traffic
shift, cutover Job, commit or abandon) loses no acknowledged write and serves no read from a
node that had already lost the shard.
"""
