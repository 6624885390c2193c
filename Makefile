# The two commands of README.md: `make run` (the main job) and `make test`.
PY := .venv/bin/python
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: run test setup lint typecheck uapi-check pytest clean

run: setup
	.venv/bin/bpfkit map list

setup:
	@bash scripts/setup.sh

lint: setup
	.venv/bin/ruff check src tests scripts

typecheck: setup
	.venv/bin/mypy

uapi-check: setup
	$(PY) scripts/gen_uapi.py --check

pytest: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test: setup lint typecheck uapi-check pytest

clean:
	rm -rf .venv build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache

# The benchmark suite (bench/README.md): bpfkit against C libbpf; e.g. make bench BENCH_ARGS="--quick --only B1,B3".
.PHONY: bench
bench: setup
	$(PY) bench/run.py $(BENCH_ARGS)
