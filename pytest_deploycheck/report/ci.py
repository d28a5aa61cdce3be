"""The CI system a run is in, read from its environment: its name, the run's URL, build and
commit (for Allure's executor, the job summary's link and notifications)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# (name, type, variable that marks it, build URL, build id, commit)
_SYSTEMS = (
    ("GitHub Actions", "github", "GITHUB_ACTIONS", None, "GITHUB_RUN_ID", "GITHUB_SHA"),
    ("GitLab CI", "gitlab", "GITLAB_CI", "CI_PIPELINE_URL", "CI_PIPELINE_ID", "CI_COMMIT_SHA"),
    ("Jenkins", "jenkins", "JENKINS_URL", "BUILD_URL", "BUILD_NUMBER", "GIT_COMMIT"),
)


@dataclass(frozen=True)
class Ci:
    """Where a run runs; ``local`` outside CI."""

    name: str = "local"
    kind: str = "local"
    run_url: str | None = None
    build: str | None = None
    commit: str | None = None


def ci_of(environ: Mapping[str, str]) -> Ci:
    """The CI system ``environ`` says a run is in."""
    for name, kind, marker, url_var, build_var, commit_var in _SYSTEMS:
        if environ.get(marker):
            url = environ.get(url_var) if url_var else None
            github = ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
            if kind == "github" and all(environ.get(k) for k in github):
                url = (
                    f"{environ['GITHUB_SERVER_URL']}/{environ['GITHUB_REPOSITORY']}"
                    f"/actions/runs/{environ['GITHUB_RUN_ID']}"
                )
            return Ci(name, kind, url, environ.get(build_var), environ.get(commit_var))
    return Ci()
