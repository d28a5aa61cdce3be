"""A Flask application whose login is Flask-Security-Too's own (its /login form, its CSRF
token, its /logout), a home page only a signed-in user may open, and one user; served on a
loopback port by ``python -m tests.flask_security_site URL DIR EMAIL [--server-sessions]``
with the password in ``SITE_PASSWORD``.

Flask keeps its session in a signed cookie by default: Flask-Security's logout clears the
browser's copy, and a copy taken before it stays valid until it expires — the server keeps
nothing it could end (Flask's documentation: "the session is implemented on top of cookies
... signed cryptographically"). With ``--server-sessions`` the session lives on the server
(Flask-Session, a file store, its id regenerated at login as its documentation says): logging
out ends it, and an old copy is refused.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.served import Site, free_port, serving


def make_app(workdir: Path, email: str, password: str, server_sessions: bool) -> object:
    from flask import Flask, session
    from flask_login import user_logged_in
    from flask_security import Security, SQLAlchemyUserDatastore, auth_required, current_user
    from flask_security.models import fsqla_v3 as fsqla
    from flask_sqlalchemy import SQLAlchemy
    from flask_wtf.csrf import generate_csrf

    workdir.mkdir(parents=True, exist_ok=True)
    app = Flask(__name__)
    app.config |= {
        "SECRET_KEY": "a-secret-for-signing-cookies-only",
        "SECURITY_PASSWORD_SALT": "a-salt-for-the-tests",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{workdir / 'users.db'}",
        "SECURITY_POST_LOGIN_VIEW": "/",
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SECURITY_EMAIL_VALIDATOR_ARGS": {"check_deliverability": False},  # no network here
    }
    if server_sessions:
        from cachelib import FileSystemCache
        from flask_session import Session

        app.config |= {
            "SESSION_TYPE": "cachelib",
            "SESSION_CACHELIB": FileSystemCache(str(workdir / "sessions"), threshold=500),
        }
        Session(app)

        # Flask-Session's documentation: regenerate the session id at login, against session
        # fixation (``app.session_interface.regenerate(session)``).
        @user_logged_in.connect_via(app)
        def _new_id(sender: object, user: object, **extra: object) -> None:
            app.session_interface.regenerate(session)  # type: ignore[attr-defined]

    db = SQLAlchemy(app)
    fsqla.FsModels.set_db_info(db)

    class Role(db.Model, fsqla.FsRoleMixin):  # type: ignore[name-defined,misc]
        pass

    class User(db.Model, fsqla.FsUserMixin):  # type: ignore[name-defined,misc]
        pass

    datastore = SQLAlchemyUserDatastore(db, User, Role)
    Security(app, datastore)

    @app.route("/")
    @auth_required()
    def home() -> str:
        # Flask-Security logs out by POST only, with the form's CSRF token (its documentation).
        return (
            f"<h1>Hello {current_user.email}</h1><form method='post' action='/logout'>"
            f"<input type='hidden' name='csrf_token' value='{generate_csrf()}'>"
            "<button type='submit'>Log out</button></form>"
        )

    with app.app_context():
        db.create_all()
        known = datastore.find_user(email=email) is not None
    if not known:  # as its documentation says: its own command, which normalizes the password
        made = app.test_cli_runner().invoke(
            args=["users", "create", email, "--password", password, "--active"]
        )
        if made.exit_code != 0:
            raise RuntimeError(f"flask users create: {made.output}")
    return app


@contextmanager
def running_flask_security(
    workdir: Path, email: str, password: str, server_sessions: bool = False, port: int = 0
) -> Iterator[Site]:
    """The application served until the block ends (on ``port``, else a free one)."""
    base_url = f"http://127.0.0.1:{port or free_port()}"
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "tests.flask_security_site", base_url, str(workdir), email]
    env = {**os.environ, "SITE_PASSWORD": password}
    sessions = ["--server-sessions"] if server_sessions else []
    with serving([*command, *sessions], f"{base_url}/login", env, Path(__file__).parent.parent):
        yield Site(base_url, email, password)


if __name__ == "__main__":
    base_url, workdir, email = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    app = make_app(workdir, email, os.environ["SITE_PASSWORD"], "--server-sessions" in sys.argv)
    port = int(base_url.rpartition(":")[2])
    app.run(host="127.0.0.1", port=port, threaded=True)  # type: ignore[attr-defined]
