# The two commands of README.md: `make run` (the main job) and `make test`.
PY := .venv/bin/python
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: run tools test setup lint typecheck uapi-check sections-check api-check pytest matrix matrix-quick clean docs dist

run: setup
	.venv/bin/bpfkit bootstrap

# rebuild the shipped BPF objects of the tools (src/bpfkit/tools/*.bpf.o) and their manifest
tools: setup
	$(PY) scripts/build_tools.py

setup:
	@bash scripts/setup.sh

lint: setup
	.venv/bin/ruff check src tests scripts matrix examples bench

typecheck: setup
	.venv/bin/mypy
	cd matrix && ../.venv/bin/mypy --strict run.py matrixlib probe_features.py

uapi-check: setup
	$(PY) scripts/gen_uapi.py --check

sections-check: setup
	$(PY) scripts/gen_sections.py --check

api-check: setup
	$(PY) scripts/api_dump.py --check

pytest: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test: setup lint typecheck uapi-check sections-check api-check docs pytest

# the documentation (docs/: Sphinx, API reference from the docstrings), warnings are errors
docs: setup
	.venv/bin/sphinx-build -W --keep-going -q -b html docs build/docs

# the wheel and the sdist, in dist/
dist: setup
	$(PY) -m build --no-isolation -o dist .

# the kernel tests on a matrix of kernels in QEMU (see matrix/README.md)
matrix: setup
	python3 matrix/run.py --python $(CURDIR)/.venv/bin/python

matrix-quick: setup
	python3 matrix/run.py --quick --python $(CURDIR)/.venv/bin/python

clean:
	rm -rf .venv build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache docs/_generated

# The benchmark suite (bench/README.md): bpfkit against C libbpf; e.g. make bench BENCH_ARGS="--quick --only B1,B3".
.PHONY: bench
bench: setup
	$(PY) bench/run.py $(BENCH_ARGS)
