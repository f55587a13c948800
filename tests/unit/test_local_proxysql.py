"""Where the local VPS's ProxySQL comes from (targets/packages.py), in the order docs/local-vps.md gives:
PEAKREADY_PROXYSQL_DEB, the shared package (bookworm only), the official repository, none."""

import pytest

from targets import packages


@pytest.fixture
def shared(tmp_path, monkeypatch):
    monkeypatch.setattr(packages, "SHARED_PACKAGES", tmp_path)
    monkeypatch.delenv("PEAKREADY_PROXYSQL_DEB", raising=False)
    monkeypatch.delenv("PEAKREADY_PROXYSQL_REPOSITORY", raising=False)
    return tmp_path


def offline(monkeypatch, answers=False):
    monkeypatch.setattr(packages, "repository_answers", lambda: answers)


def test_a_given_package_comes_first(shared, monkeypatch):
    (shared / "proxysql_2.7.2-local1_amd64.deb").write_bytes(b"")
    monkeypatch.setenv("PEAKREADY_PROXYSQL_DEB", "/tmp/mine.deb")
    offline(monkeypatch, answers=True)
    choice = packages.proxysql_package("bookworm")
    assert choice.data == {"proxysql_enabled": True, "proxysql_deb": "/tmp/mine.deb"}


def test_then_the_shared_package_on_bookworm(shared, monkeypatch):
    deb = shared / "proxysql_2.7.2-local1_amd64.deb"
    deb.write_bytes(b"")
    offline(monkeypatch, answers=True)
    assert packages.proxysql_package("bookworm").data == {"proxysql_enabled": True, "proxysql_deb": str(deb)}


def test_then_the_repository(shared, monkeypatch):
    (shared / "proxysql_2.7.2-local1_amd64.deb").write_bytes(b"")
    offline(monkeypatch, answers=True)
    choice = packages.proxysql_package("trixie")  # the shared package is a bookworm build
    assert choice.data == {"proxysql_enabled": True, "proxysql_deb": ""}
    assert "official repository" in choice.why


@pytest.mark.parametrize("with_shared,reason", [(True, "is a bookworm build and this VPS runs trixie"),
                                                (False, "PEAKREADY_PROXYSQL_DEB is not set")])
def test_else_off_and_it_says_why(shared, monkeypatch, with_shared, reason):
    if with_shared:
        (shared / "proxysql_2.7.2-local1_amd64.deb").write_bytes(b"")
    offline(monkeypatch)
    choice = packages.proxysql_package("trixie")
    assert choice.data == {"proxysql_enabled": False, "proxysql_deb": ""}
    assert reason in choice.why and "\n" not in choice.why


def test_a_test_run_never_asks_the_repository(shared, monkeypatch):
    """make test sets PEAKREADY_PROXYSQL_REPOSITORY=off: no connection leaves the machine."""
    def connect(*_args, **_kw):
        raise AssertionError("the repository was asked")

    monkeypatch.setattr(packages, "repository_answers", connect)
    monkeypatch.setenv("PEAKREADY_PROXYSQL_REPOSITORY", "off")
    choice = packages.proxysql_package("trixie")
    assert not choice.enabled and "not tried (PEAKREADY_PROXYSQL_REPOSITORY=off)" in choice.why


def test_make_test_stops_at_once_when_the_test_vpses_would_get_no_proxysql(shared, monkeypatch):
    """`make tools`, the first step of `make test`: no ProxySQL test may skip, so a run without a
    package or the repository stops before any suite, saying how to give it one."""
    from targets import tools, vps

    monkeypatch.setenv("PEAKREADY_PROXYSQL_REPOSITORY", "off")
    with pytest.raises(vps.VpsError, match=r"need ProxySQL .* PEAKREADY_PROXYSQL_DEB=<file>.* PEAKREADY_PROXYSQL_REPOSITORY=on"):
        tools.proxysql("bookworm")
    (shared / "proxysql_2.7.2-local1_amd64.deb").write_bytes(b"")
    tools.proxysql("bookworm")  # the control: with a package, nothing to say


def test_make_tools_asks_for_the_release_the_suites_run(shared, monkeypatch):
    """A bookworm package does not serve a trixie run (PEAKREADY_RELEASE): the ProxySQL tests would skip."""
    from targets import tools, vps

    (shared / "proxysql_2.7.2-local1_amd64.deb").write_bytes(b"")
    monkeypatch.setenv("PEAKREADY_PROXYSQL_REPOSITORY", "off")
    monkeypatch.setenv("PEAKREADY_RELEASE", "trixie")
    with pytest.raises(vps.VpsError, match=r"built for Debian trixie"):
        tools.proxysql()
    monkeypatch.delenv("PEAKREADY_RELEASE")
    tools.proxysql()
