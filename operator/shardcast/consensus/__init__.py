"""The consensus record in etcd: who owns each shard, which move is under way, where traffic goes."""
