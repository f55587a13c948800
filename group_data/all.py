# Every knob of peakready, with its default and what it does. This is the only place a default lives:
# roles read these through host.data, templates only print what the role hands them.
# Override per group in group_data/<group>.py, per host in the inventory, or per run with
# `pyinfra ... --data knob=value`. peakready/knobs.py checks every value before anything changes.

# --- base: every host ---------------------------------------------------------------------------

# The hosts' timezone (an IANA name: "UTC", "Asia/Jakarta"); logs, cron and timers read it.
timezone = "UTC"
# Refresh the apt cache only when it is older than this many seconds, not on every run.
apt_cache_valid_s = 3600
# Tools an operator needs at 3 am, installed on every host (the roles add their own packages).
base_packages = ["curl", "htop", "less", "lsof", "rsync", "sudo", "tcpdump", "vim-tiny"]

# Install security updates every day (unattended-upgrades, Debian's origins).
unattended_upgrades = True
# Reboot by itself when an update needs it, at unattended_reboot_time; off: an operator chooses.
unattended_reboot = False
# When that reboot happens (local time, HH:MM), if unattended_reboot is on.
unattended_reboot_time = "04:30"

# The port sshd listens on; the firewall keeps it open so the deploy never locks itself out.
sshd_port = 22
# nftables on every host: inbound traffic is dropped except sshd_port and firewall_tcp_ports.
firewall = True
# Inbound TCP ports open to everyone besides sshd_port: HTTP and HTTPS.
firewall_tcp_ports = [80, 443]
# Accept DHCP replies, for VPSes that get their address by DHCP (most clouds do).
firewall_allow_dhcp_client = True

# Kernel settings for many concurrent connections (/etc/sysctl.d/60-peakready.conf).
# Longest accept queue a listener may ask for (nginx, redis and gunicorn backlogs are capped by it).
somaxconn = 8192
# Half-open TCP connections kept while a burst of clients connects.
tcp_max_syn_backlog = 8192
# Local ports for outgoing connections (nginx -> app, app -> proxysql -> mariadb), "low high".
ip_local_port_range = "10240 65535"
# Open files on the whole host, a floor: a kernel whose default is already higher keeps its own.
file_max_min = 2097152
# 1: always allow overcommit, so Redis can fork for AOF rewrites and snapshots (Redis admin docs).
vm_overcommit_memory = 1
# How eagerly the kernel swaps: low keeps the app and databases in RAM and drops page cache first.
vm_swappiness = 10

# A swap file (MB) for hosts with little RAM and no swap, so a spike slows the host instead of
# waking the OOM killer; 0: never create one.
swap_file_mb = 2048
# Create that swap file only on hosts with less RAM than this (MB).
swap_when_ram_below_mb = 4096
