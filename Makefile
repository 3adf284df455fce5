# Trireme: `make run` starts the local cluster, `make test` runs every suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard proto/trireme_pb/*.proto)
PB_OUT := $(patsubst proto/trireme_pb/%.proto,trireme_pb/%_pb2.py,$(PROTOS))
PYTEST_ARGS ?=
PYTEST_WORKERS ?= 2

.PHONY: all install proto test test-long cov sim snapshot-catch-up compaction-bound run bench soak check-global check-bank image compose-up compose-down clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

install: $(STAMP) proto

trireme_pb/%_pb2.py: proto/trireme_pb/%.proto $(STAMP)
	$(PY) -m grpc_tools.protoc -I proto --python_out=. --pyi_out=. --grpc_python_out=. $<

proto: $(PB_OUT)

# Compiled bytecode kept in .venv/pycache (the tree stays clean), also where the environment
# says PYTHONDONTWRITEBYTECODE: else every node, router and CLI process a test starts compiles
# the project anew (0.55 s of CPU per node start instead of 0.28 s) and each phase's collection
# rewrites every test module's asserts again (11 s of CPU instead of 4.5 s).
PYCACHE := env -u PYTHONDONTWRITEBYTECODE PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache

# Two phases: most suites on PYTEST_WORKERS processes (each file whole on one worker, its
# clusters on free ports), then the timing- and load-sensitive ones (marker `serial`) alone.
# The long variants (marker `long`) are left to `make test-long`.
# The serial phase collects only the files that mark tests serial (collecting all 4,000 tests
# again took 15 s of CPU); tests/conftest.py fails the parallel phase's collection if a test is
# marked serial in a file this grep does not find.
SERIAL_FILES = $(sort $(shell grep -rlE --include='test_*.py' 'pytest\.mark\.serial' tests))
test: install
	$(PYCACHE) $(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile -m "not serial and not long" $(PYTEST_ARGS)
	$(PYCACHE) $(PY) -m pytest -q -m "serial and not long" $(PYTEST_ARGS) $(SERIAL_FILES)

# The long variants of make test's bounded runs (the full chaos matrix, longer failover runs,
# five times the fuzzing's examples), alone.
test-long: install
	$(PYCACHE) $(PY) -m pytest -q -m long $(PYTEST_ARGS)
	TRIREME_FUZZ_EXAMPLES=200 $(PYCACHE) $(PY) -m pytest -q -n $(PYTEST_WORKERS) tests/integration/test_fuzz.py $(PYTEST_ARGS)

# Coverage of the pure cores (the issue's bar: ddb/ and node/raft/ at 90% or more).
cov: install
	$(PY) -m pytest -q --cov=ddb --cov=node --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

sim: install
	$(VENV)/bin/trireme sim --seeds 20000

# A node compacted past catches up from snapshots of a 200,000-item table, with writes going on.
snapshot-catch-up: install
	TRIREME_TEST_SNAPSHOT_ITEMS=200000 $(PY) -m pytest -q -s tests/integration/test_compaction.py -k snapshot

# Data directories and restart times under 300,000 overwrites of 1,000 keys (make test: 30,000).
compaction-bound: install
	TRIREME_TEST_OVERWRITES=299000 $(PY) -m pytest -q -s tests/integration/test_compaction.py -k bounded

# Three storage nodes in three AZs and a router on http://localhost:8000; data in ./data.
run: install
	$(VENV)/bin/trireme up --data-dir data --port 8000

# The same topology in containers (deploy/): an image built from local wheels, then compose.
image: install
	$(PY) -m deploy.containers image $(if $(BASE_IMAGE),--base-image $(BASE_IMAGE))

compose-up: install
	$(PY) -m deploy.containers compose up -d

compose-down: install
	$(PY) -m deploy.containers compose down

bench: install
	$(VENV)/bin/trireme bench $(if $(PEERS),--peers $(PEERS)) $(BENCH_ARGS)

# 60 s and 300 s `trireme check` runs of every workload under every fault (hours): peak RSS and
# runtime of each, as a table and in soak/results.json. Narrow it with SOAK_ARGS, e.g.
# SOAK_ARGS="--durations 60 --workloads set --nemeses kill+partition".
soak: install
	$(PY) -m chaos.soak $(SOAK_ARGS)

# The long global-table check: three temporary regions, writers in each, every region fault, 300 s.
check-global: install
	$(VENV)/bin/trireme check --regions 3 --duration 300 --keys 8 --clients 4 \
		--nemesis isolate-region,region-latency,kill-region,kill,pause --out check-global $(CHECK_ARGS)

# The long bank check: transfers by TransactWriteItems between 16 accounts on three tables, transactional
# and plain reads of every balance, nodes killed, paused and partitioned, 300 s.
check-bank: install
	$(VENV)/bin/trireme check --workload bank --duration 300 --keys 8 --clients 6 \
		--nemesis kill,leader-kill,pause,partition,minority,router-cut --out check-bank $(CHECK_ARGS)

clean:
	rm -rf $(VENV) build trireme_pb/*_pb2*.py trireme_pb/*_pb2.pyi .pytest_cache .coverage
