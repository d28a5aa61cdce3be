"""``deploycheck init``: what a target is, asked read-only, and the configuration it needs."""
