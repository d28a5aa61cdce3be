"""A small but real deployment target: a web front end, a JSON API and a Supabase-style
PostgreSQL with Row Level Security, with switches that turn it into a broken deployment.

Run it with ``python -m examples.demo_app --help``.
"""
