"""Connections to the target: HTTP clients and a request-rate cap, read-only PostgreSQL
sessions, the browser."""
