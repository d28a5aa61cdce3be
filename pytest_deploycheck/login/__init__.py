"""The login suite: browser and HTTP login flows, their settings and their catalogue."""
