"""The database suite: is the deployment's database reachable and sound."""
