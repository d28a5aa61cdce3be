"""The db suite: read-only database checks, their settings and their catalogue."""
