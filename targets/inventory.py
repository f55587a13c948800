"""How an inventory reaches a local box (inventories/docker.py, docker_multi.py, vagrant.py): its host data."""

from __future__ import annotations


def host_data(vps: dict, proxysql_data: dict) -> dict:
    """pyinfra's data for the local VPS described by `vps` (its state file, targets/vps.py): SSH on
    its published port as root with the throwaway key and its pinned host key, the ProxySQL package
    it gets (targets/packages.py), and the limits' exemption of its own loopback."""
    return {
        "ssh_hostname": "127.0.0.1",
        "ssh_port": vps["ports"]["ssh"],
        "ssh_user": "root",
        "ssh_key": vps["ssh_key"],
        "ssh_known_hosts_file": vps["known_hosts"],
        "ssh_strict_host_key_checking": "yes",
        "ssh_look_for_keys": False,
        "ssh_allow_agent": False,
        # A dependency that compiles code is built in the VPS's own image (its Debian release and
        # Python), made offline by targets/vps.py: no image registry is needed.
        "app_builder_image": vps["image"],
        **local_data(proxysql_data),
    }


def local_data(proxysql_data: dict) -> dict:
    """What every local box gets whatever reaches it (the container VPS, the Vagrant box): the
    ProxySQL package (targets/packages.py), the limits' exemption of its own loopback, quick alerts."""
    return {
        **proxysql_data,
        # The load generators of bench/ and tests/ run in the VPS's own network namespace and reach
        # nginx on 127.0.0.1: 1000 connections from one address stand for 1000 visitors from 1000
        # addresses, each of whom the per-address limits would let through. Traffic from outside
        # the VPS (the published ports) is limited as on a real server.
        "rate_limit_exempt": ["127.0.0.1/32", "::1/128"],
        # A local VPS is for trying things out: Prometheus scrapes every 5 s and an alert fires after
        # 10 s of its condition, so make test (and you) see alerts fire and resolve within a minute.
        # A real server keeps group_data's 15 s and 120 s.
        "prometheus_scrape_interval_s": 5,
        "alert_for_s": 10,
    }
