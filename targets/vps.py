#!/usr/bin/env python3
"""The local test VPS: Debian with systemd as PID 1 and sshd, in a Docker container.

    .venv/bin/python targets/vps.py up   [--name peakready-vps] [--release bookworm] [--network peakready]
    .venv/bin/python targets/vps.py down [--name peakready-vps]
    .venv/bin/python targets/vps.py image [--release bookworm]

`up` makes everything it needs and nothing more:
  1. a Docker engine: installed with apt (docker.io, debootstrap) when missing and we are root on
     Debian, `dockerd` started in the background when none answers (no systemd on CI machines);
  2. a base image built offline: debootstrap -> `docker import` (no registry needed), tagged by
     a hash of its inputs so it is built once and reused until they change. Set
     PEAKREADY_BASE_IMAGE='debian:{release}' to start from a registry image instead;
  3. the VPS image: targets/Dockerfile FROM that base (the same Dockerfile works FROM debian:*);
  4. the container, with systemd as PID 1, SSH/HTTP/HTTPS published on 127.0.0.1 only, a throwaway
     SSH key authorised for root, and its host key pinned in a known_hosts file; then it waits
     until `systemctl is-system-running` answers running or degraded.

What a container needs is written to .peakready/vps/<name>.json, which inventories/docker.py
reads. It talks to the engine with the Docker SDK for Python (a dependency of the project: run it
with the virtualenv's python, as `make up` does), and runs the docker CLI for two things only:
`docker import` of debootstrap's tar stream, and `docker exec -i` where stdin is fed in (sh()).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from functools import cache
from pathlib import Path

try:
    import docker
    from docker.errors import BuildError, DockerException, NotFound
    from docker.models.containers import Container
except ImportError:  # the system python3, not the project's virtualenv
    sys.exit("peakready: no Docker SDK for Python here: `make venv`, then .venv/bin/python targets/vps.py.")

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ROOT / "targets"
STATE = ROOT / ".peakready"
VPS_STATE = STATE / "vps"
SSH_KEY = STATE / "ssh" / "id_ed25519"

DEFAULT_NAME = "peakready-vps"
DEFAULT_RELEASE = "bookworm"
RELEASES = ("bookworm", "trixie")
DEFAULT_NETWORK = "peakready"
# The size of a typical small VPS. The deploy reads it from the container's cgroup limits, so the
# capacity plan sizes the stack for this, not for the machine the container runs on.
DEFAULT_MEMORY = "4g"
DEFAULT_CPUS = "2"
LABEL = "peakready.vps"
# What a fresh Debian cloud VPS has: systemd, sshd, python3 (pyinfra facts and testinfra need it),
# sudo and the tools to add an apt repository.
BASE_PACKAGES = (
    "systemd,systemd-sysv,dbus,openssh-server,python3,sudo,ca-certificates,curl,gnupg,"
    "iproute2,procps"
)
# Published on 127.0.0.1 only, on ports Docker picks (no clash with anything on the host).
PORTS = {"ssh": 22, "http": 80, "https": 443}
# systemd as PID 1 without --privileged (a machine that runs Docker inside a container may lack
# CAP_SYS_RESOURCE, and a test VPS needs no more). systempaths=unconfined
# makes /proc/sys writable so per-namespace network sysctls apply to the container only; the image's
# systemd-sysctl drop-in and the base role keep every global kernel key off the host. docker run's
# --cap-add, --cap-drop, --cgroupns, -v and --tmpfs, as the SDK names them; --security-opt
# systempaths=unconfined is the docker CLI's own: it sends the engine no masked and no read-only
# path, which the SDK has no argument for (up() adds them to the host config).
RUN_FLAGS = dict(
    cap_add=["ALL"],
    cap_drop=["SYS_RESOURCE", "SYS_MODULE", "SYS_TIME"],
    cgroupns="host",
    binds=["/sys/fs/cgroup:/sys/fs/cgroup:rw"],
    tmpfs=["/run", "/run/lock"],
)
SYSTEMPATHS_UNCONFINED = {"MaskedPaths": [], "ReadonlyPaths": []}
BOOT_TIMEOUT_S = 120
# The host tools this script runs, and the Debian package of each.
TOOLS = {"docker": "docker.io", "dockerd": "docker.io", "debootstrap": "debootstrap",
         "ssh-keygen": "openssh-client"}
ENGINE_TIMEOUT_S = 60
DOCKERD_LOG = Path("/var/log/peakready-dockerd.log")


class VpsError(Exception):
    """One sentence for the operator: what is wrong and what to do."""


def log(msg: str) -> None:
    print(f"[vps] {msg}", file=sys.stderr, flush=True)


def run(cmd: list[str], check: bool = True, capture: bool = True, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(cmd, text=True, capture_output=capture, **kw)
    if check and res.returncode != 0:
        detail = (res.stderr or res.stdout or "").strip().splitlines()[-3:] if capture else []
        raise VpsError(f"`{' '.join(cmd[:4])} ...` failed (exit {res.returncode}): {' | '.join(detail)}")
    return res


# --- 1. the engine ---------------------------------------------------------------------------


def is_debian() -> bool:
    return Path("/etc/debian_version").exists()


@cache
def client() -> docker.DockerClient:
    """The engine's client, made once it answers (DOCKER_HOST and the like are honoured)."""
    return docker.from_env()


def engine_answers() -> bool:
    try:
        return client().ping()
    except (DockerException, OSError):  # no socket, or no engine behind it
        return False


def ensure_engine(extra: dict[str, str] | None = None) -> None:
    """Make `docker` talk to a running engine, installing and starting one only where we may; with
    `extra` (command -> Debian package), those too, in the same apt run."""
    root = os.geteuid() == 0
    needed = {**TOOLS, **(extra or {})}
    if os.environ.get("PEAKREADY_BASE_IMAGE"):
        needed.pop("debootstrap")  # the base image comes from a registry
    if engine_answers():
        needed.pop("dockerd")  # an engine already runs (a system service, or another host's)
    missing = [tool for tool in needed if not shutil.which(tool)]
    if missing:
        packages = sorted({needed[tool] for tool in missing})
        if not (root and is_debian() and shutil.which("apt-get")):
            raise VpsError(
                f"{', '.join(missing)} not found: install them (Docker Engine, debootstrap and an SSH client are "
                f"what a local VPS needs; on Debian, as root: `apt-get install {' '.join(packages)}`), then run this "
                "again."
            )
        log(f"installing {' '.join(packages)} with apt ({', '.join(missing)} missing)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "update", "-qq"], env=env)
        # The engine's packages as they always were; the extra tools without their recommends
        # (vagrant's would pull in libvirt).
        engine = sorted({needed[tool] for tool in missing if tool in TOOLS})
        others = sorted({needed[tool] for tool in missing if tool not in TOOLS} - set(engine))
        if engine:
            run(["apt-get", "install", "-y", "-qq", *engine], env=env)
        if others:
            run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *others], env=env)
    if engine_answers():
        return
    if not root:
        raise VpsError(
            "no Docker engine answers: start it (`sudo systemctl start docker`) or run this as root "
            "so it can start `dockerd` itself."
        )
    logfile = DOCKERD_LOG
    log(f"starting dockerd in the background (log: {logfile})")
    with open(logfile, "ab") as out:
        subprocess.Popen(
            ["dockerd"], stdout=out, stderr=out, stdin=subprocess.DEVNULL, start_new_session=True
        )
    deadline = time.monotonic() + ENGINE_TIMEOUT_S
    while time.monotonic() < deadline:
        if engine_answers():
            return
        time.sleep(0.5)
    tail = logfile.read_text(errors="replace").strip().splitlines()[-1:] if logfile.exists() else []
    raise VpsError(
        f"dockerd did not answer within {ENGINE_TIMEOUT_S} s ({' '.join(tail)}): see {logfile}."
    )


# --- 2. and 3. the images ------------------------------------------------------------------


def debian_mirror() -> str:
    """The Debian mirror this machine's apt uses (so debootstrap goes where apt already goes)."""
    if os.environ.get("PEAKREADY_DEBIAN_MIRROR"):
        return os.environ["PEAKREADY_DEBIAN_MIRROR"].rstrip("/")
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources")) + [Path("/etc/apt/sources.list")]
    for src in sources:
        if not src.exists():
            continue
        for match in re.finditer(r"(https?://\S+/debian)/?(?:\s|$)", src.read_text(errors="replace")):
            return match.group(1)
    return "http://deb.debian.org/debian"


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:12]


def image_exists(tag: str) -> bool:
    return bool(client().images.list(name=tag))


def base_image(release: str) -> str:
    """A minimal Debian root filesystem as a local image, built with debootstrap (no registry)."""
    if os.environ.get("PEAKREADY_BASE_IMAGE"):
        return os.environ["PEAKREADY_BASE_IMAGE"].format(release=release)
    mirror = debian_mirror()
    tag = f"peakready-base:{release}-{digest(release, mirror, BASE_PACKAGES)}"
    if image_exists(tag):
        return tag
    if not shutil.which("debootstrap"):
        raise VpsError("debootstrap not found: install it (`apt-get install debootstrap`) or set "
                       "PEAKREADY_BASE_IMAGE='debian:{release}' if you can pull from a registry.")
    if os.geteuid() != 0:
        raise VpsError("debootstrap needs root: run this as root, or set "
                       "PEAKREADY_BASE_IMAGE='debian:{release}' if you can pull from a registry.")
    log(f"building {tag} with debootstrap from {mirror} (about a minute)")
    with tempfile.TemporaryDirectory(prefix="peakready-rootfs-", dir="/var/tmp") as rootfs:
        run(["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", release, rootfs, mirror])
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run(
            ["docker", "import", "--change", 'CMD ["/sbin/init"]', "--change", "ENV container=docker",
             "-", tag],
            stdin=tar.stdout,
        )
        if tar.wait() != 0:
            raise VpsError(f"tar of the {release} root filesystem failed")
    return tag


def build_inputs() -> list[Path]:
    """Every file the VPS image is built from: change one and the image is rebuilt."""
    return sorted(p for p in (TARGETS / "rootfs").rglob("*") if p.is_file()) + [TARGETS / "Dockerfile"]


def vps_image(release: str) -> str:
    base = base_image(release)
    mirror = debian_mirror()
    parts: list[str | bytes] = [base, mirror]
    for path in build_inputs():
        parts += [str(path.relative_to(TARGETS)), path.read_bytes()]
    tag = f"peakready-vps:{release}-{digest(*parts)}"
    if not image_exists(tag):
        log(f"building {tag} from targets/Dockerfile")
        try:  # the classic builder, as DOCKER_BUILDKIT=0 docker build
            client().images.build(path=str(TARGETS), tag=tag, buildargs={"BASE": base, "MIRROR": mirror}, rm=True)
        except BuildError as exc:
            last = [line for line in "".join(c.get("stream", "") for c in exc.build_log).splitlines() if line][-3:]
            raise VpsError(f"building {tag} failed: {exc.msg} | {' | '.join(last)}") from None
    # Also as peakready-vps:<release>, the name the Vagrantfile's Docker box is built FROM.
    client().images.get(tag).tag("peakready-vps", release)
    return tag


# --- 4. the container ------------------------------------------------------------------------


def ssh_key() -> Path:
    """One throwaway key for every local VPS; git-ignored, never used for a real server."""
    if not SSH_KEY.exists():
        SSH_KEY.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "peakready-local-vps", "-f", str(SSH_KEY)])
    return SSH_KEY


def ensure_network(network: str) -> None:
    try:
        client().networks.get(network)
    except NotFound:
        client().networks.create(network, labels={LABEL: ""})


def container(name: str) -> Container | None:
    try:
        return client().containers.get(name)
    except NotFound:
        return None


def execute(box: Container, *argv: str, check: bool = True) -> str:
    """`docker exec box argv...`: its stdout; VpsError with its stderr when it fails and check."""
    try:
        code, (out, err) = box.exec_run(list(argv), demux=True)
    except DockerException as exc:  # e.g. the container is not running
        code, out, err = None, None, str(exc).encode()
    if check and code != 0:
        detail = (err or b"").decode().strip()
        raise VpsError(f"{box.name}: `{' '.join(argv[:4])} ...` failed (exit {code}): {detail}")
    return (out or b"").decode()


def read_host_key(box: Container) -> list[str]:
    """The VPS's SSH host key ([type, key]), made at its first boot: on a busy machine the boot can be
    over while the file is still being written, so it is read again until it is whole."""
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    while True:
        fields = execute(box, "cat", "/etc/ssh/ssh_host_ed25519_key.pub", check=False).split()
        if len(fields) >= 2:
            return fields
        if time.monotonic() > deadline:
            raise VpsError(f"{box.name}: no SSH host key in /etc/ssh/ssh_host_ed25519_key.pub {BOOT_TIMEOUT_S} s after "
                           f"boot; see `docker exec {box.name} journalctl -u ssh`.")
        time.sleep(0.5)


def wait_for_boot(box: Container) -> str:
    deadline = time.monotonic() + BOOT_TIMEOUT_S
    status = "unknown"
    while time.monotonic() < deadline:
        status = execute(box, "systemctl", "is-system-running", check=False).strip() or "unknown"
        if status in ("running", "degraded"):
            if status == "degraded":
                failed = execute(box, "systemctl", "--failed", "--no-legend", "--plain", check=False).strip()
                log(f"{box.name}: systemd is degraded; failed units: {failed or 'none listed'}")
            return status
        time.sleep(0.5)
    raise VpsError(f"{box.name}: systemd did not reach running within {BOOT_TIMEOUT_S} s (last: {status}); "
                   f"see `docker logs {box.name}`.")


def published_port(box: Container, port: int) -> int:
    """The host port Docker picked for `port` (box freshly reloaded)."""
    bindings = box.ports.get(f"{port}/tcp") or []
    for binding in bindings:
        if binding["HostIp"] == "127.0.0.1":
            return int(binding["HostPort"])
    raise VpsError(f"{box.name}: port {port} is not published on 127.0.0.1 ({bindings})")


def reached_at(box: Container) -> tuple[dict[str, int], str | None]:
    """The host ports Docker published for the VPS's services, and its address on the network, as
    the running container has them now (box freshly reloaded)."""
    ports = {label: published_port(box, port) for label, port in PORTS.items()}
    address = [net["IPAddress"] for net in box.attrs["NetworkSettings"]["Networks"].values() if net["IPAddress"]]
    return ports, address[0] if address else None


def known_hosts_line(ssh_port: int, key_type: str, key: str) -> str:
    return f"[127.0.0.1]:{ssh_port} {key_type} {key}\n"


def state_file(name: str) -> Path:
    return VPS_STATE / f"{name}.json"


def up(name: str, release: str, network: str, memory: str = DEFAULT_MEMORY, cpus: str = DEFAULT_CPUS) -> dict:
    if release not in RELEASES:
        raise VpsError(f"--release {release!r} is not supported: use one of {', '.join(RELEASES)}.")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{0,62}", name):
        raise VpsError(f"--name {name!r} is not a valid host name: use lower-case letters, digits, '-' and '.'.")
    ensure_engine()
    image = vps_image(release)
    ensure_network(network)
    box = container(name)
    if box is not None:
        current = f"{box.attrs['Config']['Image']} {box.labels.get(f'{LABEL}.size')}"
        if current != f"{image} {memory}/{cpus}" or box.status != "running":
            log(f"{name}: replacing the existing container ({box.status}, {current})")
            box.remove(force=True)
            box = None
    if box is None:
        log(f"{name}: starting from {image}")
        api = client().api  # the low-level API: containers.run() takes no SYSTEMPATHS_UNCONFINED
        host_config = api.create_host_config(
            network_mode=network, mem_limit=memory, nano_cpus=round(float(cpus) * 1e9),
            port_bindings={port: ("127.0.0.1", None) for port in PORTS.values()}, **RUN_FLAGS)
        host_config.update(SYSTEMPATHS_UNCONFINED)
        created = api.create_container(image, name=name, hostname=name, ports=list(PORTS.values()),
                                       labels={LABEL: "", f"{LABEL}.size": f"{memory}/{cpus}"},
                                       host_config=host_config)
        box = client().containers.get(created["Id"])
        box.start()
    status = wait_for_boot(box)

    pubkey = ssh_key().with_suffix(".pub").read_text().strip()
    execute(box, "sh", "-c",
            "install -d -m 700 /root/.ssh && printf '%s\\n' \"$1\" > /root/.ssh/authorized_keys "
            "&& chmod 600 /root/.ssh/authorized_keys", "sh", pubkey)
    box.reload()  # the ports Docker picked and the address, known once it runs
    ports, address = reached_at(box)
    host_key = read_host_key(box)
    VPS_STATE.mkdir(parents=True, exist_ok=True)
    known_hosts = VPS_STATE / f"{name}.known_hosts"
    known_hosts.write_text(known_hosts_line(ports["ssh"], host_key[0], host_key[1]))
    info = {
        "name": name, "release": release, "image": image, "network": network, "status": status,
        "memory": memory, "cpus": cpus, "address": address, "ports": ports,
        "ssh_key": str(SSH_KEY), "known_hosts": str(known_hosts),
    }
    state_file(name).write_text(json.dumps(info, indent=2) + "\n")
    return info


def sh(name: str, script: str, stdin: str = "", timeout: int = 120) -> str:
    """`sh -c script` as root in the VPS (stdin fed in: how credentials reach it, never on a command
    line); its stdout, or VpsError with its stderr. The CLI's `docker exec -i`: the SDK feeds stdin only
    through a raw socket."""
    res = subprocess.run(["docker", "exec", "-i", name, "sh", "-c", script], input=stdin, text=True,
                         capture_output=True, timeout=timeout)
    if res.returncode != 0:
        raise VpsError(f"{name}: `{script}` failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def refresh(name: str) -> dict:
    """The state of a VPS as it runs now: after a `docker restart` or a reboot of this machine, Docker
    publishes its ports anew, and the state file (the inventory's SSH port, the pinned host key's
    line) would name the old ones. Its ports and address are read again; nothing else changes, and
    the container is never replaced (that is `up`'s). A VPS that is not running keeps its state."""
    info = json.loads(state_file(name).read_text())
    if not engine_answers() or (box := container(name)) is None or box.status != "running":
        return info
    ports, address = reached_at(box)
    now = info | {"ports": ports, "address": address}
    if now != info:
        known_hosts = Path(info["known_hosts"])
        key = known_hosts.read_text().split()[1:3]
        known_hosts.write_text(known_hosts_line(ports["ssh"], *key))
        state_file(name).write_text(json.dumps(now, indent=2) + "\n")
        log(f"{name}: its published ports changed since the state was written (restarted): state updated")
    return now


def restart(name: str) -> None:
    """Reboot the VPS as `docker restart` does: systemd shuts down cleanly (STOPSIGNAL SIGRTMIN+3),
    the container starts again and boots. Its published ports and address may change, and the
    state file is left as it was, as after a restart by hand: the inventories `refresh` it."""
    client().containers.get(name).restart(timeout=60)
    wait_for_boot(client().containers.get(name))


def down(name: str) -> None:
    if engine_answers():
        if (box := container(name)) is not None:
            box.remove(force=True, v=True)
            log(f"{name}: removed")
        # The network goes with its last peakready container.
        for net in client().networks.list(filters={"label": LABEL}, greedy=True):
            if not net.attrs.get("Containers"):
                with suppress(DockerException):  # in use again meanwhile
                    net.remove()
    for path in (state_file(name), VPS_STATE / f"{name}.known_hosts"):
        path.unlink(missing_ok=True)


def show(name: str) -> str:
    """How to reach a local VPS, for a person."""
    if not state_file(name).exists():
        raise VpsError(f"no local VPS named {name}: run `make up` first.")
    info = json.loads(state_file(name).read_text())
    rel = lambda p: os.path.relpath(p, ROOT)  # noqa: E731
    ports = info["ports"]
    return "\n".join([
        f"{name} is up: Debian {info['release']}, {info['cpus']} CPUs, {info['memory']} RAM, systemd "
        f"{info['status']}, address {info['address']} on docker network {info['network']}",
        f"  ssh:    ssh -i {rel(info['ssh_key'])} -o UserKnownHostsFile={rel(info['known_hosts'])} "
        f"-p {ports['ssh']} root@127.0.0.1",
        f"  http:   curl -H 'Host: localhost' http://127.0.0.1:{ports['http']}/api/v1/menu",
        f"  https:  https://127.0.0.1:{ports['https']}/ (with tls = \"self-signed\")",
        f"  deploy: make deploy VPS={name}   (PEAKREADY_VPS={name} .venv/bin/pyinfra inventories/docker.py deploy.py)",
        f"  remove: make down VPS={name}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in ("up", "down", "show", "image"):
        p = sub.add_parser(cmd)
        if cmd != "image":
            p.add_argument("--name", default=os.environ.get("PEAKREADY_VPS", DEFAULT_NAME))
        if cmd in ("up", "image"):
            p.add_argument("--release", default=os.environ.get("PEAKREADY_RELEASE", DEFAULT_RELEASE))
        if cmd == "up":
            p.add_argument("--network", default=DEFAULT_NETWORK)
            p.add_argument("--memory", default=DEFAULT_MEMORY, help="RAM limit, e.g. 1g, 4g")
            p.add_argument("--cpus", default=DEFAULT_CPUS, help="CPU limit, e.g. 1, 2")
    args = parser.parse_args(argv)
    try:
        if args.command == "up":
            info = up(args.name, args.release, args.network, args.memory, args.cpus)
            print(json.dumps(info, indent=2))
        elif args.command == "image":
            if args.release not in RELEASES:
                raise VpsError(f"--release {args.release!r} is not supported: use one of {', '.join(RELEASES)}.")
            ensure_engine()
            print(vps_image(args.release))
        elif args.command == "show":
            print(show(args.name))
        else:
            down(args.name)
    except (VpsError, DockerException) as exc:
        print(f"peakready: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
