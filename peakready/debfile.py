"""Read a .deb's control fields without dpkg (the control machine may not be Debian).

A .deb is an ar archive: debian-binary, control.tar.{gz,xz,zst,bz2,} and data.tar.*.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile


def control(path: str) -> dict[str, str]:
    """The fields of the package's control file, e.g. {"Package": "proxysql", "Version": "2.7.1"}."""
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise ValueError("not a Debian package: no ar archive")
        while True:
            header = f.read(60)
            if len(header) < 60:
                raise ValueError("not a Debian package: no control.tar member")
            name = header[:16].decode().strip().rstrip("/")
            size = int(header[48:58].decode().strip())
            body = f.read(size)
            if size % 2:
                f.read(1)
            if name.startswith("control.tar"):
                return _fields(_control_text(name, body, path))


def _control_text(member: str, body: bytes, path: str) -> str:
    if member.endswith(".zst"):  # not in Python's standard library: ask dpkg-deb where there is one
        if not shutil.which("dpkg-deb"):
            raise ValueError("control.tar.zst needs dpkg-deb to read")
        return subprocess.run(["dpkg-deb", "-f", path], capture_output=True, text=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        for entry in tar.getmembers():
            control = tar.extractfile(entry) if entry.name.lstrip("./") == "control" else None
            if control is not None:
                return control.read().decode()
    raise ValueError("its control archive has no control file")


def _fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def _numbers(version: str) -> tuple[int, ...]:
    """The upstream part of a Debian version as numbers: "2.36-9+deb12u7" -> (2, 36)."""
    upstream = version.split(":", 1)[-1].rsplit("-", 1)[0]
    return tuple(int(n) for n in re.findall(r"\d+", upstream))


def unfit_for(fields: dict[str, str], arch: str, libc: str | None) -> str | None:
    """Why a package with these control fields cannot be installed on a host of architecture `arch`
    with glibc `libc` (libc6's installed version), or None. Only what fails on the host after the
    upload is judged: the architecture and the glibc it was linked against."""
    wanted = fields.get("Architecture", "")
    if wanted not in (arch, "all"):
        return f"it is built for {wanted or 'no architecture'} and the host is {arch}"
    need = re.search(r"\blibc6 \(>=\s*([^)\s]+)\)", fields.get("Depends", ""))
    if need and libc and _numbers(libc) < _numbers(need.group(1)):
        return f"it needs glibc {need.group(1)} or newer and the host has {libc.split('-', 1)[0]}"
    return None
