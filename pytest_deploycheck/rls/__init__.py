"""The rls suite: Row Level Security rules and impersonation probes, their settings and their
catalogue."""
