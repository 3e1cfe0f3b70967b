"""One quick real-MiniLM build shared by the integration tests (category + compatibility)."""

from __future__ import annotations

import pytest

from services.cli import main


@pytest.fixture(scope="session")
def quick_home(tmp_path_factory):
    """A $TINYEXPERTS_HOME with two real teachers, built with --quick --teachers-only
    (~2 min on 2 cores); test_real_build builds a student on a copy."""
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("TINYEXPERTS_HOME", str(home))
    assert main(["build", "--experts", "category,compatibility", "--quick",
                 "--teachers-only", "--json"]) == 0
    yield home
    mp.undo()


@pytest.fixture()
def in_home(quick_home, monkeypatch):
    monkeypatch.setenv("TINYEXPERTS_HOME", str(quick_home))
    return quick_home
