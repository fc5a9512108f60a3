"""The local stack shardcast is proven against.

A real control plane, etcd and Prometheus on loopback, built and started by shardcast itself.
"""
