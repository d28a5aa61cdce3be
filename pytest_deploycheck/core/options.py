"""Names of the settings that come from the command line or the environment, and of the files
they default to."""

from __future__ import annotations

CONFIG_FILE = "deploycheck.toml"
STATE_DIR = "deploycheck-state"  # a watch window's samples and the last GO sign-off
LAST_GO = "last-go-signoff.json"  # in STATE_DIR: the baseline of the next window
PRE_DEPLOY = "pre-deploy-signoff.json"  # in STATE_DIR: the snapshot the checks after compare with
ENV_PREFIX = "DEPLOYCHECK_"
# setting -> command-line option; the environment variable is ENV_PREFIX + setting.upper()
OPTION_NAMES = {
    "target": "--deploy-target",
    "config": "--deploy-config",
    "base_url": "--base-url",
    "db_url": "--deploy-db-url",
    "version": "--deploy-version",
    "phase": "--deploy-phase",
    "suites": "--deploy-suites",
    "signoff": "--deploy-signoff",
    "baseline": "--deploy-baseline",
    "artifacts": "--deploy-artifacts",
    "window": "--deploy-window",
    "interval": "--deploy-interval",
    "state": "--deploy-state",
    "allow_destructive": "--deploy-allow-destructive",
    "baseline_trust": "--deploy-baseline-trust",
    "hold_exit": "--deploy-hold-exit",
    "shard": "--deploy-shard",
}
# Set in the environment of each target's run of a fleet: the fleet's process notifies and
# writes the job summary, once, for all of them.
FLEET_PART = ENV_PREFIX + "FLEET_PART"


def dest(setting: str) -> str:
    """The attribute of ``config.option`` that holds a setting's command-line value."""
    return OPTION_NAMES[setting].lstrip("-").replace("-", "_")
