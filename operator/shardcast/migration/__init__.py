"""A migration as a pure function: what was observed -> the one action to take next."""
