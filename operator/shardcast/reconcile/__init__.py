"""Orchestration: the policy cycle (history store -> batch forecast -> plan), unit-tested with
in-memory fakes. It reaches the world only through the Protocol ports of `ports`, which the
adapters (`clients`) implement and the handlers wire in."""
