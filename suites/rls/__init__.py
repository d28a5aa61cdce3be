"""The rls suite: static Row Level Security rules and impersonation probes."""
