# peakready's knobs: base: every host.
# (What a declaration is: peakready/schema/__init__.py.)

# The hosts' timezone (an IANA name: "UTC", "Asia/Jakarta"); logs, cron and timers read it.
timezone: "host: timezone" = "UTC"
# Refresh the apt cache only when it is older than this many seconds, not on every run.
apt_cache_valid_s: "host: integer(0, 7 * 86400)" = 3600
# Tools an operator needs at 3 am, installed on every host (the roles add their own packages).
base_packages: "host: package_names" = [
    "curl", "htop", "less", "lsof", "rsync", "sudo", "tcpdump", "vim-tiny",
]

# Install security updates every day (unattended-upgrades, Debian's origins).
unattended_upgrades: "host: boolean" = True
# Reboot by itself when an update needs it, at unattended_reboot_time; off: an operator chooses.
unattended_reboot: "host: boolean" = False
# When that reboot happens (local time, HH:MM), if unattended_reboot is on.
unattended_reboot_time: "host: clock_time" = "04:30"

# The port sshd listens on; the firewall keeps it open so the deploy never locks itself out.
sshd_port: "host: port" = 22
# sshd accepts passwords (true) or keys only (false, the default: passwords can be guessed). The
# deploy refuses to turn them off while it logs in with ssh_password itself.
sshd_password_authentication: "host: boolean" = False
# Whether root may log in over SSH: "prohibit-password" (by key only, the default) or "no" (log in as a
# sudo user). The deploy refuses "no" while it logs in as root itself (ssh_user). sshd_config(5) also
# knows "yes" and "forced-commands-only": a root password login is what this knob exists to forbid.
sshd_permit_root_login: 'host: one_of("prohibit-password", "no")' = "prohibit-password"
# Port forwarding over SSH: false (the default) allows no TCP, agent, X11 or socket forwarding;
# true allows local TCP forwarding only (`ssh -L`, e.g. a tunnel to a service on the host's loopback).
sshd_allow_tcp_forwarding: "host: boolean" = False
# fail2ban bans (nftables, its own table) an address after this many failed SSH logins within
# fail2ban_findtime_s, for fail2ban_bantime_s.
fail2ban_maxretry: "host: integer(1, 100)" = 5
fail2ban_findtime_s: "host: integer(60, 7 * 86400)" = 600
fail2ban_bantime_s: "host: integer(60, 365 * 86400)" = 3600
# Addresses or networks fail2ban never bans (your office, a bastion), besides loopback and the
# address the deploy itself connects from, which is always allowed.
fail2ban_ignore_addresses: "host: networks" = []
# Kernel modules that may never load: network protocols and storage drivers a VPS does not use
# (each gets `install <module> /bin/false` and `blacklist <module>` in /etc/modprobe.d).
blocked_kernel_modules: "host: module_names" = [
    "dccp", "sctp", "rds", "tipc", "usb-storage", "firewire-core", "firewire-ohci", "firewire-sbp2",
]
# AIDE: a baseline of every system file's hashes after the first deploy, checked every night
# (about 45 s of one core on a 2-core VPS); a changed binary or config shows in /var/log/aide/.
file_integrity: "host: boolean" = True
# An idle interactive shell is logged out after this many seconds (TMOUT); 0: never.
shell_idle_timeout_s: "host: integer(0, 86400)" = 900
# nftables on every host: inbound traffic is dropped except sshd_port and firewall_tcp_ports.
firewall: "host: boolean" = True
# Inbound TCP ports open to everyone besides sshd_port: HTTP and HTTPS.
firewall_tcp_ports: "host: ports" = [80, 443]
# Accept DHCP replies, for VPSes that get their address by DHCP (most clouds do).
firewall_allow_dhcp_client: "host: boolean" = True
# The host's IPv4 address on the private network its peers share (one of its own addresses; use the
# provider's private network where there is one), for the services other hosts of the inventory use:
# MariaDB, Redis, the app. "" on a single VPS, where everything stays on 127.0.0.1; a multi-host
# deploy refuses a host that needs one and has none. The firewall admits each such service from its
# peers' addresses only.
private_address: "host: address_or_empty" = ""

# Kernel settings for many concurrent connections (/etc/sysctl.d/60-peakready.conf). Each host may
# have its own (set them per group, e.g. group_data/db_primary.py), except somaxconn: the plan sizes
# every listener's backlog, on every host, under it.
# Longest accept queue a listener may ask for (nginx, redis and gunicorn backlogs are capped by it).
somaxconn: "plan: integer(128, 65535)" = 8192
# Half-open TCP connections kept while a burst of clients connects.
tcp_max_syn_backlog: "host: integer(128, 1 << 20)" = 8192
# Local ports for outgoing connections (nginx -> app, app -> proxysql -> mariadb), "low high".
ip_local_port_range: "host: port_range" = "10240 65535"
# Open files on the whole host, a floor: a kernel whose default is already higher keeps its own.
file_max_min: "host: integer(65536, 1 << 31)" = 2097152
# 1: always allow overcommit, so Redis can fork for AOF rewrites and snapshots (Redis admin docs).
vm_overcommit_memory: "host: one_of(0, 1, 2)" = 1
# How eagerly the kernel swaps: low keeps the app and databases in RAM and drops page cache first.
vm_swappiness: "host: integer(0, 100)" = 10

# A swap file (MB) for hosts with little RAM and no swap, so a spike slows the host instead of
# waking the OOM killer; 0: never create one.
swap_file_mb: "host: integer(0, 64 * 1024)" = 2048
# Create that swap file only on hosts with less RAM than this (MB).
swap_when_ram_below_mb: "host: integer(0, 1 << 20)" = 4096
