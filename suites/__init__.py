"""Prebuilt validation suites: run them with ``--deploy-suites=NAME,...``."""
