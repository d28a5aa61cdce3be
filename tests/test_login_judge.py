"""The login's reading of evidence, as pure logic: what an attempt proves, what counts as the
same answer, which cookie flags matter, and what a page offers."""

from __future__ import annotations

import pytest

from pytest_deploycheck.login.judge import (
    Attempt,
    Outcome,
    SetCookie,
    cookie_findings,
    outcome,
    same_answer,
)
from pytest_deploycheck.login.pages import Page


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (Attempt(302, protected=True, anonymous=False), Outcome.LOGGED_IN),
        (Attempt(200, asks_password=True, protected=False, anonymous=False), Outcome.REFUSED),
        (Attempt(200, asks_password=True), Outcome.REFUSED),  # no protected page known
        (Attempt(200), Outcome.UNPROVEN),  # the form went away, and nothing proves a login
        (Attempt(200, protected=True, anonymous=True), Outcome.UNPROVEN),  # opens for anyone
        (Attempt(500, protected=False, anonymous=False), Outcome.SERVER_ERROR),
        (Attempt(None), Outcome.NO_ANSWER),
        (Attempt(429, asks_password=True), Outcome.RATE_LIMITED),
        (Attempt(200, locked=True, asks_password=True), Outcome.RATE_LIMITED),
    ],
)
def test_what_an_attempt_proves(attempt: Attempt, expected: Outcome) -> None:
    assert outcome(attempt) is expected


def test_the_same_answer_ignores_the_username_typed_back() -> None:
    wrong = Attempt(200, asks_password=True, text="Wrong password for ada. Try again")
    unknown = Attempt(200, asks_password=True, text="Wrong password for nobody-1. Try again")
    assert same_answer(wrong, unknown, ("ada", "nobody-1"))
    told = Attempt(200, asks_password=True, text="No account nobody-1. Try again")
    assert not same_answer(wrong, told, ("ada", "nobody-1"))
    assert not same_answer(wrong, Attempt(404, asks_password=True, text=wrong.text), ("ada", ""))


def test_only_the_session_cookies_flags_as_the_login_set_them() -> None:
    cookies = [
        SetCookie.parse("csrftoken=x; Path=/; SameSite=Lax"),  # not HttpOnly, by design
        SetCookie.parse("sid=y; Path=/; SameSite=None"),
        SetCookie.parse('sid=""; Max-Age=0; Path=/'),  # a log-out's deletion
    ]
    found = [(f.rule, f.object) for f in cookie_findings(cookies, ["sid"], https=True)]
    assert found == [
        ("cookie-no-httponly", "sid"),
        ("cookie-no-secure", "sid"),
        ("cookie-samesite-none", "sid"),
    ]
    good = [SetCookie.parse("sid=y; HttpOnly; Secure; SameSite=Strict")]
    assert cookie_findings(good, ["sid"], https=True) == []


DJANGO_LIKE = """<html><body><header>
<form id="logout-form" method="post" action="/admin/logout/">
<input type="hidden" name="csrfmiddlewaretoken" value="tok">
<button type="submit">Log out</button></form></header>
<script>var password = "<input type=password>";</script>
<a href="/admin/password_change/">Change password</a></body></html>"""


def test_a_page_offers_its_logout_form_with_its_token() -> None:
    page = Page("http://host/admin/", 200, DJANGO_LIKE)
    assert page.logout_control() == (
        "POST",
        "http://host/admin/logout/",
        {"csrfmiddlewaretoken": "tok"},
    )
    assert not page.asks_password  # text inside a script is not a field
    linked = Page("http://host/home", 200, '<a href="/bye">Sign out</a>')
    assert linked.logout_control() == ("GET", "http://host/bye", {})


def test_a_login_form_is_filled_as_a_browser_would() -> None:
    html = (
        '<form action="/login" method="post"><input type="hidden" name="csrf" value="t">'
        '<input name="next" type="hidden" value="/home"><input id="u" name="username">'
        '<input type="password" name="password"><input type="submit" value="Log in"></form>'
    )
    form = Page("http://host/login", 200, html).login_form
    assert form is not None
    assert form.filled("ada", "pw") == {
        "csrf": "t",
        "next": "/home",
        "username": "ada",
        "password": "pw",
    }


@pytest.mark.parametrize(
    "text",
    [
        "Too many login attempts. Please try again in 15 minutes.",
        "Your account has been locked.",
        "Account temporarily locked",
    ],
)
def test_lockout_pages_are_recognised(text: str) -> None:
    assert Page("http://host/login", 200, f"<p>{text}</p>").locked
