# peakready: the commands a newcomer runs. `make up` and `make test` set up what they need.
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
# The local VPS's Debian release: bookworm (default) or trixie.
RELEASE ?= bookworm
VPS     ?= peakready-vps

# What `make deploy`, `plan`, `status`, `restore` and `rollback` act on: the local VPS by default, or
# INVENTORY=inventories/prod.py.
INVENTORY ?= inventories/docker.py

.PHONY: venv image up deploy plan status restore release rollback down up-multi deploy-multi promote down-multi test tools unit infra vagrant multi \
	drill bench bench-short clean

venv: $(VENV)/.installed

# The bundle and its test tools (pyproject.toml), and the sample app's own pinned dependencies
# (app/requirements.txt), which its unit tests import.
$(VENV)/.installed: pyproject.toml app/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]' -r app/requirements.txt
	touch $@

# The local VPS image of $(RELEASE), built offline (debootstrap, then targets/Dockerfile); `make up`
# and the Vagrantfile's Docker box start from it.
image: venv
	$(BIN)/python targets/vps.py image --release $(RELEASE)

# A local VPS named $(VPS), deployed, left running: `make down` removes it.
up: venv
	$(BIN)/python targets/vps.py up --name $(VPS) --release $(RELEASE) > /dev/null
	$(MAKE) --no-print-directory deploy INVENTORY=inventories/docker.py
	@$(BIN)/python targets/vps.py show --name $(VPS)

# The whole stack on every host of $(INVENTORY) (the local VPS by default).
deploy: venv
	PEAKREADY_VPS=$(VPS) $(BIN)/pyinfra -y $(INVENTORY) deploy.py

# The capacity plan of every host of $(INVENTORY), from their live facts (python -m peakready.plan
# --cores 2 --ram 4G does it for a host you don't have yet).
plan: venv
	PEAKREADY_VPS=$(VPS) $(BIN)/python -m peakready.plan --inventory $(INVENTORY)

# One screen per host of $(INVENTORY), like `pm2 status` + `redis-cli INFO`: services, workers, requests,
# connections, Redis, replication, alerts (from Prometheus, over SSH). JSON=1 prints it as JSON.
status: venv
	@PEAKREADY_VPS=$(VPS) $(BIN)/python -m peakready.status --inventory $(INVENTORY) $(if $(JSON),--json)

# Restore the app's database on $(INVENTORY)'s db_primary from a backup: INTO=<database> (a
# scratch one first; an existing one with tables needs REPLACE=true), FROM=latest or a dump's path.
FROM    ?= latest
REPLACE ?= false
restore: venv
	PEAKREADY_VPS=$(VPS) $(BIN)/pyinfra -y $(INVENTORY) restore.py --data restore_into=$(INTO) \
		--data restore_from=$(FROM) --data restore_replace=$(REPLACE)

# A release rolled across $(INVENTORY)'s app hosts (two or more), BATCH at a time: each batch drained
# from every nginx, deployed alone (checked before and after its switch), put back; a batch that fails
# stops the roll and the rest keep the release they run (peakready/roll.py). MULTI's topology with
# INVENTORY=inventories/docker_multi.py.
BATCH   ?= 1
release: venv
	PEAKREADY_VPS=$(VPS) PEAKREADY_MULTI=$(MULTI) $(BIN)/python -m peakready.roll --inventory $(INVENTORY) --batch $(BATCH)

# Put the app on $(INVENTORY)'s app hosts back on the release before the live one.
rollback: venv
	PEAKREADY_VPS=$(VPS) $(BIN)/pyinfra -y $(INVENTORY) rollback.py

down: venv
	$(BIN)/python targets/vps.py down --name $(VPS)

# The reference multi-host topology (targets/multi.py): lb, app1, app2, db1 (primary, Redis), db2
# (replica), each a local VPS on one Docker network, deployed by the same deploy.py; `make down-multi`
# removes them. `make promote PRIMARY=db2` makes db2 the primary (switchover, or failover when the
# primary is dead) and records it for the next deploy.
MULTI   ?= peakready-multi
up-multi: venv
	$(BIN)/python targets/multi.py up --prefix $(MULTI) --release $(RELEASE) > /dev/null
	$(MAKE) --no-print-directory deploy-multi

deploy-multi: venv
	PEAKREADY_MULTI=$(MULTI) $(BIN)/pyinfra -y inventories/docker_multi.py deploy.py

promote: venv
	PEAKREADY_MULTI=$(MULTI) $(BIN)/pyinfra -y $(if $(filter inventories/docker.py,$(INVENTORY)),inventories/docker_multi.py,$(INVENTORY)) \
		promote.py --data promote=$(PRIMARY)

down-multi: venv
	$(BIN)/python targets/multi.py down --prefix $(MULTI)

# Unit tests, then a fresh test VPS (never $(VPS)): deploy, testinfra, a second deploy that must
# change nothing, the fault suite, teardown (the phase timings are printed at the end), with the
# Vagrant box's run beside it (make vagrant: its deploy overlaps the test VPS's, its output follows
# infra's, from .peakready/vagrant-test.log); then the multi-host topology, fresh too; then the
# benchmark's short run.
test: tools unit
	@mkdir -p .peakready
	@$(MAKE) --no-print-directory vagrant > .peakready/vagrant-test.log 2>&1 & box=$$!; \
	$(MAKE) --no-print-directory infra; infra=$$?; \
	wait $$box; vagrant=$$?; \
	echo "make vagrant, run beside make infra (.peakready/vagrant-test.log):"; cat .peakready/vagrant-test.log; \
	[ $$infra -eq 0 ] && [ $$vagrant -eq 0 ]
	@$(MAKE) --no-print-directory multi
	@$(MAKE) --no-print-directory bench-short

# A test run sends nothing beyond this machine: ProxySQL's repository is not even tried for the
# local VPS (targets/packages.py); the package comes from PEAKREADY_PROXYSQL_DEB or a shared/packages/ folder beside the checkout.
# PEAKREADY_PROXYSQL_REPOSITORY=on in the environment (the GitHub workflow) tries the repository.
test tools unit infra multi vagrant drill bench-short: export PEAKREADY_PROXYSQL_REPOSITORY ?= off

# What the suites run on this machine (Docker engine, wrk, Vagrant, ShellCheck), installed and
# started before any of them: targets/tools.py.
tools: venv
	$(BIN)/python targets/tools.py

unit: venv
	$(BIN)/pytest tests/unit

infra: venv
	$(BIN)/pytest --durations=12 tests/infra

# The Vagrantfile's box, made and destroyed by the run, as docs/testing.md's Vagrant steps do it: vagrant up,
# the deploy through pyinfra's @vagrant connector, the infra tests marked `box` over vagrant ssh-config,
# a second deploy that must change nothing, vagrant destroy -f. PROVIDER=docker (the local VPS image:
# no hypervisor, no box download), virtualbox or libvirt.
PROVIDER ?= docker
vagrant: venv
	VAGRANT_DEFAULT_PROVIDER=$(PROVIDER) $(BIN)/pytest tests/infra --target vagrant

# The reference multi-host topology, fresh (never $(MULTI)): deploy, replication, the read/write split,
# the tier firewall, an app host and the replica stopped under load, the primary killed and replaced,
# a switchover, second deploys that change nothing, a release rolled across the app hosts under load and a
# broken one stopped at the first; the measured figures are printed at the end.
# The backups' drill rebuilds db2: it runs after the scale-out tests, which need it as a replica.
multi: venv
	$(BIN)/pytest --durations=8 tests/multi/test_scale_out.py tests/multi/test_release.py tests/multi/test_backups.py

# The single-host drill of make infra (tests/infra/test_drill.py) with a database of DRILL_MB (1 GB):
# the one VPS destroyed with its disk under writes, rebuilt on a fresh one from the backups pulled by a
# second local VPS, serving again; the bookings lost and the time it took in .peakready/drill-<MB>m.md.
DRILL_MB ?= 1024
drill: venv
	PEAKREADY_DRILL_DB_MB=$(DRILL_MB) $(BIN)/pytest tests/infra/test_drill.py

# Baseline vs peakready on two fresh local VPSes, one run (about 35 minutes with 10 s runs): every
# scenario in 3 alternating rounds, the users each profile holds, the app worker sweep;
# bench/results/<date>.json, .md (the report) and .png (the plot). MODE=sweep (or rounds, capacity)
# runs one part only.
DURATION ?= 10
MODE     ?= all
bench: venv
	$(BIN)/python bench/run.py --duration $(DURATION) --mode $(MODE)

# The same, every mode, a few seconds a run, into .peakready/bench-short/: proves the benchmark runs.
bench-short: venv
	$(BIN)/python bench/run.py --short --out .peakready/bench-short

# Also removes the cached images, the virtualenv and what .peakready/ caches. Never the generated
# secrets (.peakready/secrets/) nor the record of a promoted primary (.peakready/topology/): they are
# the only copies, and a deploy after losing them would rotate every password or write to the old
# primary. Delete them by hand once the hosts they belong to are gone.
KEPT = secrets topology
clean: down
	-docker image ls -q --filter 'reference=peakready-*' | xargs -r docker image rm
	rm -rf $(VENV)
	[ ! -d .peakready ] || find .peakready -mindepth 1 -maxdepth 1 $(foreach k,$(KEPT),! -name $(k)) -exec rm -rf {} +
