"""The metrics suite: production's own figures, read from the monitoring system."""
