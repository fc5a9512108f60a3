"""The only I/O in shardcast: the Kubernetes API, Prometheus and etcd."""
