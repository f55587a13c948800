"""Every knob of peakready: its default, what it does, and what a valid value is: the bundle's schema,
one file per service, in the order peakready/knobs.py reads them (SCHEMA_FILES):

    base.py        every host: apt, time, kernel, swap, firewall, sshd, hardening
    plan.py        the capacity plan: the users planned for, memory weights, derived sizes
    mariadb.py, redis.py, proxysql.py, app.py, nginx.py, monitoring.py   each service's role
    backup.py      backups on a host of their own: base backups, binary logs, retention

This is the only place a knob is declared: roles read it through host.data (group_data/all.py
hands these defaults to pyinfra), templates only print what the role hands them, and
peakready/knobs.py reads these files to check every value before anything changes. A knob's name
is unique across them.

    # What the knob does (the comment above it).
    name: "scope: check" = default

scope: "host" may differ between the hosts of an inventory; "plan" is read by the capacity plan
and "group" is shared by the hosts' services, so both must be the same on every host. check: a
validator of peakready/checks.py (integer(lo, hi), boolean, one_of(...), ...); the ranges are what a
sane deploy can ask for, and the plan refuses the combinations that do not fit a host.

Your settings are not written here (an update of peakready would conflict with them): they go in a
file of your own beside your inventory, in pyinfra's conventions, as plain assignments
(`app_source = "apps/shop"`): inventories/group_data/<inventory>.py for every host of an inventory
(inventories/group_data/prod.py for inventories/prod.py), inventories/group_data/<group>.py for a
group of it, the inventory for one host, `pyinfra ... --data knob=value` for one run.
"""
