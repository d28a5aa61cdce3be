"""The login suite: can a user log in and out, and is the session safe."""
