"""The health suite: concurrent HTTP probes, their settings and their catalogue."""
