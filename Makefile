# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel of torch is pinned and installed first: a looser requirement pulls a multi-GB CUDA build.
TORCH_VERSION ?= 2.13.0
DATA ?=
SOURCE ?= movielens
# The venv's modules are compiled when first imported (pip --no-compile below) and the compiled files kept: an
# environment that sets PYTHONDONTWRITEBYTECODE would make every process compile torch and the rest again
# (graphrec.serving.app imports in 11.3 s of CPU instead of 4.3 s).
unexport PYTHONDONTWRITEBYTECODE


.PHONY: run serve test neo4j-server lint bench bench-quality bench-speed bench-scaling bench-refresh bench-serving bench-policies bench-production clean

# setuptools warns that a graphrec/ folder in the working directory would shadow the editable install: here that
# folder is the package itself, so the install says nothing. --no-compile: Python compiles the modules it imports
# when it first imports them, instead of pip compiling all of torch's up front.
$(BIN)/graphrec: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --no-compile torch==$(TORCH_VERSION)
	PYTHONWARNINGS='ignore:Editable installation' $(BIN)/pip install --quiet --no-compile -e '.[dev,neo4j-fast,simulators]'
	touch $(BIN)/graphrec

DATA_DIR = $${GRAPHREC_DATA_DIR:-var/$(if $(DATA),$(notdir $(abspath $(DATA))),synthetic)}

# Build a dataset into the embedded graph (synthetic by default; DATA=path SOURCE=name for real data), print
# stats, candidates and an explanation for a sample user, train LightGCN, index, publish, then serve the API
# on localhost:8000. Each dataset gets its own graph under var/, so a real dataset never mixes with another.
run: $(BIN)/graphrec
	GRAPHREC_DATA_DIR=$(DATA_DIR) $(BIN)/graphrec demo $(if $(DATA),--source $(SOURCE) --path $(DATA),) --serve

# Serve what `make run` built, without rebuilding it.
serve: $(BIN)/graphrec
	GRAPHREC_DATA_DIR=$(DATA_DIR) $(BIN)/graphrec serve

# The whole suite on both backends: .ci/system-deps installs redis-server (and a JDK and Maven if missing) from
# Debian's packages, and the tests start their own Neo4j server (tests/neo4j_server.py) and Redis 7.
# Two workers (pytest-xdist), one per core, each taking the next tests as it finishes; the tests of a file with a
# module-scoped fixture (tests/conftest.py) and the two wheel tests stay on one worker, so each is built once.
test: lint
	bash .ci/system-deps
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

# A Neo4j Community server on a free loopback port, for benchmarks and by hand: prints NEO4J_URI and the password.
neo4j-server: $(BIN)/graphrec
	$(BIN)/python -m tests.neo4j_server

# ruff, the layer contracts (import-linter) and the type checker (basedpyright, against its baseline), all on the
# source tree in place.
lint: $(BIN)/graphrec
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/basedpyright -p .

bench: $(BIN)/graphrec
	$(BIN)/python -m benchmarks.ingest_and_query

bench-quality: $(BIN)/graphrec
	$(BIN)/python -m benchmarks.quality --out var/quality

bench-speed: $(BIN)/graphrec
	$(BIN)/python -m benchmarks.train_speed

bench-scaling: $(BIN)/graphrec
	$(BIN)/python -m benchmarks.scaling --out var/scaling

bench-refresh: $(BIN)/graphrec
	$(BIN)/python -m benchmarks.refresh_at_scale --data-dir var/refresh-1m

# Needs a built data folder: see the docstring of benchmarks/serving.py.
bench-serving: $(BIN)/graphrec
	$(BIN)/python -m benchmarks.serving --data-dir $${GRAPHREC_DATA_DIR:-var/synthetic-1m}

bench-policies: $(BIN)/graphrec
	$(BIN)/python -m benchmarks.policies --search --out var/policies

# Starts its own Neo4j (Java, Maven) and Redis 7 (bash .ci/system-deps installs redis-server).
bench-production: $(BIN)/graphrec
	$(BIN)/python -m benchmarks.production_stack

clean:
	rm -rf $(VENV) var *.egg-info
