"""The metrics suite: queries to the monitoring system, their settings, judge and catalogue."""
