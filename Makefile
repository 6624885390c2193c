# The two commands of README.md: `make run` (the main job) and `make test`.
PY := .venv/bin/python
export PATH := $(CURDIR)/.venv/bin:$(PATH)

.PHONY: run tools test setup lint typecheck uapi-check sections-check exports-check api-check pytest matrix matrix-arm64 matrix-quick matrix-envs clean fuzz soak docs dist

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
	cd matrix && ../.venv/bin/mypy --strict run.py matrixlib probe_features.py token_launcher.py readme_table.py

uapi-check: setup
	$(PY) scripts/gen_uapi.py --check
	$(PY) scripts/gen_attrs.py --check
	$(PY) scripts/gen_syscalls.py --check
	$(PY) scripts/gen_records.py --check

sections-check: setup
	$(PY) scripts/gen_sections.py --check

exports-check: setup
	$(PY) scripts/gen_exports.py --check

api-check: setup
	$(PY) scripts/api_dump.py --check

pytest: setup
	$(PY) -m pytest $(PYTEST_ARGS)

test: setup lint typecheck uapi-check sections-check exports-check api-check docs pytest

# the documentation (docs/: Sphinx, API reference from the docstrings), warnings are errors
docs: setup
	.venv/bin/sphinx-build -W --keep-going -q -b html docs build/docs

# the wheel and the sdist, in dist/
dist: setup
	$(PY) -m build --no-isolation -o dist .

# the kernel tests on a matrix of kernels in QEMU (see matrix/README.md)
matrix: setup
	python3 matrix/run.py --python $(CURDIR)/.venv/bin/python

# the arm64 columns alone (qemu-system-aarch64; writes matrix/arm64-matrix.md)
matrix-arm64: setup
	python3 matrix/run.py --kernel 6.1-arm64 --kernel 6.12-arm64 --jobs 1 --timeout 3600 --python $(CURDIR)/.venv/bin/python

matrix-quick: setup
	python3 matrix/run.py --quick --python $(CURDIR)/.venv/bin/python

# the host environments only (lockdown, capabilities, container, token) on 6.12 and 7.x
matrix-envs: setup
	python3 matrix/run.py --env all --python $(CURDIR)/.venv/bin/python

clean:
	rm -rf .venv build dist src/*.egg-info .mypy_cache .ruff_cache .pytest_cache docs/_generated

# The benchmark suite (bench/README.md): bpfkit against C libbpf; e.g. make bench BENCH_ARGS="--quick --only B1,B3".
.PHONY: bench
bench: setup
	$(PY) bench/run.py $(BENCH_ARGS)

# The mutation fuzzer (src/bpfkit/testing/fuzz.py) for as long as asked, niced: the machine may be shared.
# e.g. make fuzz FUZZ_SECONDS=3600 FUZZ_SEED=7; failing inputs are saved under FUZZ_OUT with how to replay them.
FUZZ_SECONDS ?= 600
FUZZ_SEED ?= 0
FUZZ_OUT ?= build/fuzz-failures
fuzz: setup
	nice $(PY) -m bpfkit.testing.fuzz --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED) --out $(FUZZ_OUT) $(FUZZ_ARGS)

# The soak run (src/bpfkit/testing/soak.py): load/attach/read/detach cycles and map churn for SOAK_SECONDS,
# then fd, kernel-object and RSS growth per cycle after the warm-up; e.g. make soak SOAK_SECONDS=14400
SOAK_SECONDS ?= 3600
soak: setup
	nice $(PY) -m bpfkit.testing.soak --seconds $(SOAK_SECONDS) $(SOAK_ARGS)
