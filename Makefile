# The commands developers and CI type. Everything runs inside .venv, made on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEPS   := $(VENV)/.deps-stamp
PYTEST_ARGS ?=

DEMO_ARGS ?=

.PHONY: demo help compile debug test test-compiled test-pure test-asan lint typecheck stubtest bench clean distclean

help:
	@echo "make demo       build, then serve examples/demo.py on http://127.0.0.1:8000"
	@echo "make test       build, then run the suite compiled and pure (SAILFISH_NO_EXTENSIONS=1)"
	@echo "make compile    (re)build the extension in place"
	@echo "make bench      parser/writer micro-benchmarks against h11 and httptools"
	@echo "make test-asan  core tests on an ASan+UBSan debug build"
	@echo "make lint | typecheck | stubtest | clean"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q --group build --group test
	$(PY) -m pip install -q --no-build-isolation -e .
	touch $@

compile: $(DEPS)
	$(PY) setup.py -q build_ext --inplace

debug: $(DEPS)
	SAILFISH_DEBUG=1 $(PY) setup.py -q build_ext --inplace --force

demo: compile
	$(PY) -m sailfish demo:app --app-dir examples --host 127.0.0.1 --port 8000 $(DEMO_ARGS)

test: test-compiled test-pure

test-compiled: compile
	SAILFISH_REQUIRE_EXTENSIONS=1 $(PY) -m pytest -q $(PYTEST_ARGS) tests

test-pure: $(DEPS)
	SAILFISH_NO_EXTENSIONS=1 $(PY) -m pytest -q $(PYTEST_ARGS) tests

# Python itself is not instrumented, so the sanitizer runtimes are preloaded.
test-asan: $(DEPS)
	SAILFISH_DEBUG=1 SAILFISH_SANITIZE=1 $(PY) setup.py -q build_ext --inplace --force
	ASAN_OPTIONS=detect_leaks=0 \
	LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
	SAILFISH_REQUIRE_EXTENSIONS=1 $(PY) -m pytest -q -p no:cacheprovider tests/http
	$(PY) setup.py -q build_ext --inplace --force

lint: $(DEPS)
	$(PY) -m pip install -q --group lint
	$(PY) -m ruff check src tests bench setup.py
	$(PY) -m ruff format --check src tests bench setup.py
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cython-lint ext

typecheck: $(DEPS)
	$(PY) -m pip install -q --group lint
	$(PY) -m mypy

stubtest: compile
	$(PY) -m pip install -q --group lint
	$(PY) -m mypy.stubtest sailfish._http --allowlist tests/typing/stubtest-allowlist.txt

bench: compile
	$(PY) -m pip install -q --group bench
	$(PY) bench/bench_core.py

clean:
	rm -rf build dist src/*.egg-info .pytest_cache .hypothesis
	rm -f src/sailfish/*.so src/sailfish/*.pyd src/sailfish/*.c ext/*.c ext/*.html

distclean: clean
	rm -rf $(VENV)
