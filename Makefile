# meshover.mesh — developer entry points. Newcomers need two: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON      ?= python3
VENV        := $(CURDIR)/.venv
VBIN        := $(VENV)/bin
STAMP       := $(VENV)/.installed
VENV218     := $(CURDIR)/.venv-2.18
# ansible needs the collection at .../ansible_collections/meshover/mesh: a symlink outside the tree
# (inside it, tree walkers would loop) for running, a plain copy for ansible-test (it wants a real path).
TREE_ID     := $(shell echo '$(CURDIR)' | md5sum | cut -c1-8)
ACROOT      := /tmp/meshover-$(TREE_ID)/acroot
SANITYROOT  := /tmp/meshover-$(TREE_ID)/sanity
MITOGEN_DIR  = $(shell $(VBIN)/python -c 'import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__))')

export PATH := $(VBIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(ACROOT)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export PYTHONPATH := $(ACROOT)
export MESHOVER_REPO := $(CURDIR)

.PHONY: docs help venv collection grafana-deps lint sanity sanity-2.18 unit unit-2.18 checks-sanity checks-unit molecule test demo demo-down demo-status bench bench-scale scale-down build clean host-deps

help:
	@echo "make demo       build the qemu lab, converge a 3-node mesh, print its status"
	@echo "make demo-down  stop the demo lab (no qemu/vde process left behind)"
	@echo "make test       everything CI runs: lint, sanity, unit, molecule"
	@echo "make docs       regenerate the tables of docs/variables.md from the variable catalogue"
	@echo "tiers: make lint | make sanity | make sanity-2.18 | make unit | make unit-2.18 | make molecule | make build"
	@echo "make molecule VERIFY=full  the lab with every verify part, the ones make test leaves out included"
	@echo "make bench      run bench/ against a 3-VM lab and rewrite docs/BENCHMARKS.md"
	@echo "make bench-scale  the mesh on 4, 8, 16 and 32 nodes of the scale lab (about 2 h); make scale-down stops it"

$(STAMP): requirements.txt
	test -x $(VBIN)/python || $(PYTHON) -m venv $(VENV)
	$(VBIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

venv: $(STAMP) collection

collection:
	@mkdir -p $(ACROOT)/ansible_collections/meshover
	@ln -sfn $(CURDIR) $(ACROOT)/ansible_collections/meshover/mesh
	@# ansible.cfg points here, so `.venv/bin/ansible-playbook ...` works as typed without the Makefile's env
	@mkdir -p .lab/collections/ansible_collections/meshover
	@test -e .lab/.gitignore || echo '*' > .lab/.gitignore
	@ln -sfn ../../../.. .lab/collections/ansible_collections/meshover/mesh

host-deps:
	bash molecule/lab/host-deps.sh

# docs/variables.md's tables are generated from the variable catalogue (plugins/module_utils/controller/_catalog.py).
docs: venv collection
	$(VBIN)/python -c 'import pathlib; from ansible_collections.meshover.mesh.plugins.module_utils.controller._catalog import rewrite_doc; p = pathlib.Path("docs/variables.md"); p.write_text(rewrite_doc(p.read_text()))'

# promtool: Debian's prometheus package (make host-deps).
lint: venv collection
	$(VBIN)/ruff check plugins tests bench molecule
	$(VBIN)/ruff format --check plugins tests bench molecule
	$(VBIN)/ansible-lint --profile production
	@command -v promtool >/dev/null || { echo "promtool not found: make host-deps (Debian's prometheus)"; exit 1; }
	promtool check rules roles/exporter/files/prometheus-rules.yml
	promtool test rules tests/prometheus/rules.test.yml

# ansible-test sanity in a plain copy of the tree (it wants a real path), with the ansible-test of $(1); one copy
# per venv, so that sanity and sanity-2.18 can run at once (make test).
define run_sanity
	@# ansible-test fetches a pip bootstrap script from a host outside this network: provide it.
	@mkdir -p $(HOME)/.ansible/test/cache
	@for v in 24.2 25.0 25.1 25.2; do f=$(HOME)/.ansible/test/cache/get_pip_$${v//./_}.py; \
	  test -s $$f || cp .ci/get_pip_shim.py $$f; done
	rm -rf $(SANITYROOT)$(notdir $(1)) && mkdir -p $(SANITYROOT)$(notdir $(1))/ansible_collections/meshover/mesh
	git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ $(SANITYROOT)$(notdir $(1))/ansible_collections/meshover/mesh/
	cd $(SANITYROOT)$(notdir $(1))/ansible_collections/meshover/mesh && \
	  $(1)/bin/ansible-test sanity --venv --python 3.11 --color no --exclude molecule/ --exclude bench/
endef

sanity: venv
	$(call run_sanity,$(VENV))

# The sanity tests of the oldest ansible-core meta/runtime.yml claims (2.18), in its own venv.
sanity-2.18: $(VENV218)/.installed
	$(call run_sanity,$(VENV218))

# Grafana's own frontend code (npm, pinned in tests/grafana) for the dashboard's unit tests, in .lab/ (node, npm:
# make host-deps).
grafana-deps:
	bash tests/grafana/install.sh

unit: venv collection grafana-deps
	$(VBIN)/python -m pytest -q tests/unit

# The unit tests again on the oldest ansible-core meta/runtime.yml claims (2.18), its own venv.
$(VENV218)/.installed: tests/requirements-ansible-2.18.txt
	test -x $(VENV218)/bin/python || $(PYTHON) -m venv $(VENV218)
	$(VENV218)/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements-ansible-2.18.txt
	touch $@

unit-2.18: $(VENV218)/.installed collection grafana-deps
	PATH=$(VENV218)/bin:$$PATH $(VENV218)/bin/python -m pytest -q -p no:cacheprovider tests/unit

# Scenarios run one after another (2 host cores: the lab is CPU-bound). VERIFY=core (make test, CI) leaves
# out the verify parts that molecule/default/verify.yml marks `when: verify_full`; VERIFY=full runs them too.
SCENARIOS ?= default
VERIFY ?= core
molecule: venv collection host-deps
	@case "$(VERIFY)" in core|full) ;; *) echo "VERIFY=$(VERIFY): core or full"; exit 2;; esac
	@mkdir -p .lab
	for s in $(SCENARIOS); do \
	  MESHOVER_VERIFY=$(VERIFY) MESHOVER_MITOGEN_STRATEGY_PLUGINS=$(MITOGEN_DIR)/plugins/strategy \
	    $(VBIN)/python bench/molecule_steps.py --json .lab/molecule-$$s-steps.json --scenario $$s --mitogen check,idempotence || exit 1; \
	done

# The checks that need no lab run in two lanes at once, one per host core (lint and both sanity runs, which
# share ansible-test's caches, one after the other; both unit runs in the other lane), then the lab.
test: venv $(VENV218)/.installed grafana-deps
	$(MAKE) --no-print-directory --output-sync=recurse -j2 checks-sanity checks-unit
	$(MAKE) --no-print-directory molecule

checks-sanity:
	$(MAKE) --no-print-directory -j1 lint sanity sanity-2.18

checks-unit:
	$(MAKE) --no-print-directory -j1 unit unit-2.18

demo: venv collection host-deps
	MESHOVER_MITOGEN_STRATEGY_PLUGINS=$(MITOGEN_DIR)/plugins/strategy bash molecule/lab/demo.sh up

demo-status: venv collection
	MESHOVER_MITOGEN_STRATEGY_PLUGINS=$(MITOGEN_DIR)/plugins/strategy bash molecule/lab/demo.sh status

demo-down:
	bash molecule/lab/demo.sh down

# Every figure of docs/BENCHMARKS.md, against a fresh 3-VM lab (stopped afterwards): ~20 min.
# BENCH_ARGS="--only throughput --keep" runs a subset / keeps the lab.
bench: venv collection host-deps
	$(VBIN)/python bench/run_all.py $(BENCH_ARGS)

# The scale bench (issue 20): N nodes as containers in one qemu guest (molecule/lab/scalelab.py).
# SCALE_NODES=4,8 measures fewer sizes; the lab stays up for a look (make scale-down stops it).
# SCALE_ARGS passes more options, e.g. SCALE_ARGS="--bfd 1000:10 --steps kill" (bench/scale.py --help).
SCALE_NODES ?= 4,8,16,32
SCALE_ARGS ?=
bench-scale: venv collection host-deps
	$(VBIN)/python bench/scale.py --nodes $(SCALE_NODES) $(SCALE_ARGS)

scale-down:
	$(VBIN)/python molecule/lab/scalelab.py down

build: venv
	$(VBIN)/ansible-galaxy collection build --force --output-path dist/

clean:
	rm -rf dist/ /tmp/meshover-$(TREE_ID)
