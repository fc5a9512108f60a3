"""Data planes shardcast moves shards of, behind the operator's Job contract: the sync and
cutover Jobs run these entrypoints from shardcast's own image, and routers follow etcd. The
operator itself knows nothing of any of them."""
