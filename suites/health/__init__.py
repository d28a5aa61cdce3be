"""The health suite: is the deployment up and running the expected version."""
