"""The access diff as pure logic: what counts as widened, what as narrowed."""

from __future__ import annotations

from typing import Any

from pytest_deploycheck.rls.access import changes, judged

NONE = dict.fromkeys(("select", "insert", "update", "delete"), "none")


def cell(rls: bool = True, public_read: bool = False, **levels: str) -> dict[str, Any]:
    """One table of a matrix; ``levels`` as ``anon_select="open"``."""
    roles: dict[str, dict[str, str]] = {"anon": dict(NONE), "authenticated": dict(NONE)}
    for key, level in levels.items():
        role, command = key.rsplit("_", 1)
        roles[role][command] = level
    return {"kind": "user", "rls": rls, "public_read": public_read, **roles, "rows_read": {}}


def test_a_role_reaching_rows_without_being_asked_who_it_is_widens() -> None:
    before = {"public.t": cell(authenticated_select="scoped")}
    now = {"public.t": cell(authenticated_select="open", anon_insert="scoped")}
    assert changes(before, now) == (
        [("public.t", "authenticated can now select public.t (scoped -> open)")],
        [],
    )


def test_new_tables_widen_only_when_open_or_without_rls() -> None:
    now = {
        "public.scoped": cell(authenticated_select="scoped"),
        "public.open": cell(anon_select="open", authenticated_update="open"),
        "public.bare": cell(rls=False),
        "public.catalog": cell(public_read=True, anon_select="open"),
    }
    widened, narrowed = changes({}, now)
    assert widened == [
        (
            "public.open",
            "public.open is newly exposed to the API (anon select, authenticated update)",
        ),
        ("public.bare", "public.bare is newly exposed to the API (RLS off)"),
    ]
    assert narrowed == []


def test_rls_off_widens_and_rls_on_or_a_lowered_level_narrows() -> None:
    before = {
        "public.a": cell(authenticated_select="scoped"),
        "public.b": cell(rls=False),
        "public.gone": cell(),
    }
    now = {"public.a": cell(rls=False), "public.b": cell()}
    widened, narrowed = changes(before, now)
    assert widened == [("public.a", "RLS is now off for public.a")]
    assert narrowed == [
        ("public.gone", "public.gone is no longer exposed to the API"),
        ("public.a", "authenticated can no longer select public.a (scoped -> none)"),
        ("public.b", "RLS is now on for public.b"),
    ]


def test_without_a_baseline_nothing_changed_and_the_matrix_is_the_evidence() -> None:
    widened, narrowed = judged({"public.t": cell()}, None, "since the baseline")
    assert (widened.findings, narrowed.findings) == ([], [])
    assert widened.data["access"] == {"public.t": cell()}
    assert [e.name for e in widened.evidence] == ["access matrix.csv"]
