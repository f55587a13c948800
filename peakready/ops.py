"""Operations peakready adds to pyinfra's."""

from __future__ import annotations

import hashlib
import posixpath
import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.facts.files import File, Sha1File

from peakready.facts import StatOverride, TimezoneIs
from peakready.render import render


def compare(dest: str, content: str, mode: int, user: str, group: str) -> tuple[bool, bool]:
    """(same content, same mode and owner) of `dest` on the host and what is wanted there."""
    current = host.get_fact(File, path=dest)
    if not current:
        return False, False
    same_content = host.get_fact(Sha1File, path=dest) == hashlib.sha1(content.encode()).hexdigest()
    return same_content, (current["mode"], current["user"], current["group"]) == (mode, user, group)


def staged(dest: str) -> str:
    """Where a new version of `dest` waits, beside it (same filesystem: the final mv is atomic)."""
    return f"{dest}.peakready-new"


def stage(dest: str, content: str, mode: int, user: str, group: str):
    """The commands that put `content` beside `dest` (staged(dest)), with its mode and owner, for
    config_file and config_set to check and swap in."""
    new = staged(dest)
    yield StringCommand("mkdir", "-p", shlex.quote(posixpath.dirname(dest)))
    yield FileUploadCommand(StringIO(content), new, remote_temp_filename=host.get_temp_filename(new))
    yield StringCommand(f"chown {user}:{group} {shlex.quote(new)} && chmod {mode} {shlex.quote(new)}")


@operation()
def config_file(template: str, dest: str, check: str | None = None, mode: int = 644,
                user: str = "root", group: str = "root", keep_last_good: bool = False,
                keep_if: str | None = None, **data):
    """
    Install templates/<template>, rendered with `data`, at `dest`.

    + check: a shell command run on the new file before it replaces `dest`, with `{path}` standing
      for it; when it fails the operation fails and the working file stays where it was.
    + keep_last_good: copy the file being replaced to `<dest>.peakready-last-good`, for
      `restart_or_roll_back` to put back if the service will not start with the new one.
    + keep_if: with keep_last_good, a shell test on the file being replaced (`{path}`): it is kept
      only when the test passes, and an earlier copy stays when it does not (the last file that
      worked, not merely the last one written).

    **Example:**

    .. code:: python

        config_file(
            name="Firewall ruleset",
            template="base/nftables.conf.j2",
            dest="/etc/nftables.conf",
            check="nft -c -f {path}",
            ssh_port=22,
        )
    """
    content = render(template, **data)
    same_content, same_meta = compare(dest, content, mode, user, group)
    if same_content and same_meta:
        host.noop(f"{dest} is up to date")
        return

    if same_content:  # only the mode or owner differ
        yield StringCommand(f"chown {user}:{group} {shlex.quote(dest)} && chmod {mode} {shlex.quote(dest)}")
        return
    yield from stage(dest, content, mode, user, group)
    new, d = shlex.quote(staged(dest)), shlex.quote(dest)
    if check:  # on the staged file: a file that fails it never replaces the working one
        yield StringCommand(f"( {check.format(path=new)} ) || {{ rm -f {new}; exit 1; }}")
    if keep_last_good:
        # The last good file, or none when there was none (then rolling back removes dest).
        last_good = shlex.quote(f"{dest}.peakready-last-good")
        if keep_if:
            yield StringCommand(f"if [ ! -e {d} ]; then rm -f {last_good}; "
                                f"elif ( {keep_if.format(path=d)} ); then cp -p {d} {last_good}; fi")
        else:
            yield StringCommand(f"if [ -e {d} ]; then cp -p {d} {last_good}; else rm -f {last_good}; fi")
    yield StringCommand(f"mv -f {new} {d}")


@operation()
def restart_or_roll_back(service: str, config: str):
    """
    Restart `service` (after `config` changed); if it will not start, put back the config that
    `config_file(keep_last_good=True)` kept (or remove `config` if it is new), start the service
    that way, and fail.

    **Example:**

    .. code:: python

        restart_or_roll_back(name="Restart MariaDB", service="mariadb", config=cnf, _if=changed)
    """
    unit, conf, last = shlex.quote(service), shlex.quote(config), shlex.quote(f"{config}.peakready-last-good")
    yield StringCommand(
        f"systemctl restart {unit} || {{ if [ -f {last} ]; then cp -p {last} {conf}; else rm -f {conf}; fi; "
        f"systemctl restart {unit}; echo 'peakready: {service} did not start with the new {config}, "
        f"so it runs with the one before; see journalctl -u {service}' >&2; exit 1; }}"
    )


@operation()
def timezone(timezone: str):
    """
    Set the host's timezone with timedatectl (pyinfra's server.timezone reads Debian's UTC as
    Etc/UTC and so changes it on every run).

    **Example:**

    .. code:: python

        timezone(name="Timezone", timezone="Asia/Jakarta")
    """
    if host.get_fact(TimezoneIs, timezone=timezone):
        host.noop(f"timezone is {timezone}")
        return
    yield StringCommand("timedatectl", "set-timezone", shlex.quote(timezone))


@operation()
def once(marker: str, commands: list[str]):
    """
    Run `commands` on a host once, ever: then `marker` (a file) records it, and every later run is a
    no-op (the operation is still there, so two runs list the same operations).

    **Example:**

    .. code:: python

        once(name="First security updates", marker="/var/lib/peakready/upgraded", commands=["unattended-upgrade"])
    """
    if host.get_fact(File, path=marker):
        host.noop(f"done once already ({marker})")
        return
    for command in commands:
        yield StringCommand(command)
    yield StringCommand(f"mkdir -p {shlex.quote(posixpath.dirname(marker))} && touch {shlex.quote(marker)}")


@operation()
def stat_override(path: str, mode: str, user: str = "root", group: str = "root"):
    """
    Keep `path` at `mode` (and owner) across package upgrades, with dpkg-statoverride: recorded now,
    applied now if the file exists, and by dpkg whenever it installs the file later.

    **Example:**

    .. code:: python

        stat_override(name="Only root runs as", path="/usr/bin/x86_64-linux-gnu-as", mode="0750")
    """
    recorded = (host.get_fact(StatOverride, path=path) or "").split()
    if recorded[:2] == [user, group] and int(recorded[2], 8) == int(mode, 8):
        host.noop(f"{path} is {user}:{group} {mode} (dpkg-statoverride)")
        return
    p = shlex.quote(path)
    yield StringCommand(f"dpkg-statoverride --remove {p} >/dev/null 2>&1; "
                        f"dpkg-statoverride --add {user} {group} {mode} {p} && "
                        f"{{ [ ! -e {p} ] || {{ chown {user}:{group} {p} && chmod {mode} {p}; }}; }}")


@operation()
def config_set(files: list[dict], check: str):
    """
    Install several rendered templates as one change, checked as one (`nginx -t` reads them all
    together): each file that differs is staged, all staged files go in at once, `check` runs, and
    if it fails every file is put back as it was (a new one removed) and the operation fails. The
    running service is never asked to load a config that failed the check.

    + files: dicts of template, dest, and optionally mode/user/group and data (the template's values);
      or of content (the file's text, written from data: peakready/monitoring.py) instead of template

    **Example:**

    .. code:: python

        config_set(name="nginx", check="nginx -t", files=[
            {"template": "nginx/nginx.conf.j2", "dest": "/etc/nginx/nginx.conf", "data": {...}},
        ])
    """
    changed = []
    for f in files:
        mode, user, group = f.get("mode", 644), f.get("user", "root"), f.get("group", "root")
        content = f["content"] if "content" in f else render(f["template"], **f.get("data", {}))
        if compare(f["dest"], content, mode, user, group) != (True, True):
            changed.append((f["dest"], content, mode, user, group))
    if not changed:
        host.noop("every file is up to date")
        return
    swap, undo = [], []
    for dest, content, mode, user, group in changed:
        new, old, d = (shlex.quote(staged(dest)), shlex.quote(f"{dest}.peakready-old"), shlex.quote(dest))
        yield from stage(dest, content, mode, user, group)
        swap.append(f"rm -f {old}; if [ -e {d} ]; then cp -p {d} {old}; fi; mv -f {new} {d}")
        undo.append(f"if [ -e {old} ]; then mv -f {old} {d}; else rm -f {d}; fi")
    olds = " ".join(shlex.quote(f"{dest}.peakready-old") for dest, *_ in changed)
    yield StringCommand(
        f"{'; '.join(swap)}; if {check}; then rm -f {olds}; else {'; '.join(undo)}; "
        f"echo 'peakready: {check} failed: the previous config is back in place' >&2; exit 1; fi")


def open_files_limit(unit: str, nofile: int, why: str):
    """
    The unit's LimitNOFILE from the plan, as a drop-in (systemd reloaded when it changes). Returns
    the drop-in's operation, for the role to restart the service `_if` it changed.
    """
    from pyinfra.operations import systemd

    service = unit.removesuffix(".service")
    dropin = config_file(
        name=f"{service} open files: {nofile}", template="systemd/limits.conf.j2",
        dest=f"/etc/systemd/system/{service}.service.d/peakready-limits.conf", nofile=nofile, why=why,
    )
    systemd.daemon_reload(name=f"Reload systemd units for {service}", _if=dropin.did_change)
    return dropin


def hardening(unit: str, template: str, **data):
    """
    A sandbox for a unit the distribution ships (nginx, mariadb): templates/<template> as the drop-in
    <unit>.d/peakready-hardening.conf, systemd reloaded when it changes. Returns the drop-in's
    operation, for the role to restart the service `_if` it changed (a sandbox applies at start).

    **Example:**

    .. code:: python

        sandbox = hardening("nginx", "nginx/hardening.conf.j2", writable=["/var/log/nginx"])
    """
    from pyinfra.operations import systemd

    service = unit.removesuffix(".service")
    dropin = config_file(
        name=f"{service} sandboxed (systemd-analyze security)", template=template,
        dest=f"/etc/systemd/system/{service}.service.d/peakready-hardening.conf", **data,
    )
    systemd.daemon_reload(name=f"Reload systemd units for {service}'s sandbox", _if=dropin.did_change)
    return dropin


def when_changed(*ops, unless=()):
    """
    An `_if=` condition: true when one of `ops` changed and nothing in `unless` holds (each an
    operation that changed, or a condition that is true). A service `unless` just started already
    runs what is new; a restart `unless` made makes a reload needless.

    **Example:**

    .. code:: python

        restart = when_changed(unit, unless=[started])
        systemd.service(name="Reload the app", service="app", reloaded=True,
                        _if=when_changed(conf, env, unless=[started, restart]))
    """
    def holds(item) -> bool:
        return item.did_change() if hasattr(item, "did_change") else item()

    return lambda: any(op.did_change() for op in ops) and not any(holds(item) for item in unless)


def shell(other_host, command: str):
    """`command` on `other_host` (a pyinfra host of the inventory) through its own connection, with
    the inventory's sudo (_sudo), from an operation that runs elsewhere: (ok, output), never raises.
    promote.py and the point-in-time restore keep their steps in order across hosts this way."""
    try:
        return other_host.run_shell_command(command, _sudo=bool(other_host.data.get("_sudo")))
    except Exception as exc:
        return False, exc
