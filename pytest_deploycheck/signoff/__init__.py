"""The verdict: the engine that decides it, the results it is decided from, and the document it
is written as."""
