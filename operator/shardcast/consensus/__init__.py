"""The consensus record in etcd: who owns each shard, which move runs, where traffic goes."""
