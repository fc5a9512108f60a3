"""Pinned versions of everything the local stack builds; one place to bump them."""

KUBERNETES = "1.33.13"  # kubectl on the machine is 1.32: within the supported one-minor skew
KWOK = "0.7.0"
HELM = "3.18.6"
