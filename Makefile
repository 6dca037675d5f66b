# The commands developers and CI type. Everything runs inside .venv, made on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
DEPS   := $(VENV)/.deps-stamp
PYTEST_ARGS ?=

DEMO_ARGS ?=

.PHONY: demo help system-deps compile debug test test-compiled test-pure test-asan lint typecheck stubtest bench clean distclean wheel fuzz fuzz-smoke fuzz-build

help:
	@echo "make demo       build, then serve examples/demo.py on http://127.0.0.1:8000"
	@echo "make test       build, then run the suite compiled and pure (SAILFISH_NO_EXTENSIONS=1)"
	@echo "make system-deps  (root, Debian) the programs the integration tests drive: nginx, haproxy, chromium, ..."
	@echo "make compile    (re)build the extension in place"
	@echo "make bench      core micro-benchmarks (HTTP vs h11/httptools, WebSocket vs websockets/wsproto), then the shell"
	@echo "make bench-e2e  whole servers under wrk (peers in .venv-bench): CPU per request, req/s"
	@echo "make bench-ws   the WebSocket part of bench-e2e alone: echo CPU per message, idle memory"
	@echo "make bench-wsgi | bench-files  the WSGI / file-serving parts of bench-e2e alone"
	@echo "make bench-workers  2 workers against uvicorn and granian: spread, failures during restarts"
	@echo "make bench-shutdown  SIGTERM under load against uvicorn and granian: lost requests, time to exit"
	@echo "make bench-soak  millions of mixed requests (HTTP, WebSocket, WSGI) against one worker: RSS, fds, tasks"

	@echo "make bench-floods   connection storms, --limit-concurrency, deep pipelines, WebSocket floods"

	@echo "make bench-slow  slow peers (slowloris, slow readers) vs a normal client's p99; memory per idle connection"
	@echo "make autobahn   every Autobahn|Testsuite section (9, 12-13 too) against sailfish; build/autobahn/"
	@echo "make test-asan  core tests on an ASan+UBSan debug build"
	@echo "make fuzz       libFuzzer harnesses over the core, FUZZ_SECONDS (default 180) each; fuzz-smoke: a fixed seed and run count (CI)"
	@echo "make wheel      sdist -> wheel from the unpacked sdist -> auditwheel -> tests in a fresh venv"
	@echo "make fuzz-py    atheris over both twins (parser, environ, WebSocket frames, writer), FUZZ_SECONDS each; fuzz-py-smoke: a fixed seed and run count (CI)"
	@echo "make lint | typecheck | stubtest | clean"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(DEPS): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade "pip>=25.1"
	$(PY) -m pip install -q --group build --group test
	$(PY) -m pip install -q --no-build-isolation -e .
	touch $@

# Programs the integration tests drive; without them those tests skip (under .ci/run they fail).
# clang + libclang-rt-14-dev (libFuzzer and the sanitizer runtimes) build `make fuzz`.
SYSTEM_PACKAGES := curl wrk nginx-light haproxy chromium openssl clang libclang-rt-14-dev
system-deps:
	command -v apt-get >/dev/null || { echo "make system-deps: needs apt-get (Debian/Ubuntu); install $(SYSTEM_PACKAGES) by hand"; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES) >/dev/null

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
	SAILFISH_REQUIRE_EXTENSIONS=1 $(PY) -m pytest -q -p no:cacheprovider tests/http tests/ws
	$(PY) setup.py -q build_ext --inplace --force

# libFuzzer harnesses (docs/fuzzing.md): the C helpers, and the request parser, response writer
# and WebSocket frame parser through CPython embedded in a clang-built binary with the core
# instrumented (ASan + UBSan + coverage). Each harness first replays tests/corpus/fuzz/<h>/
# (seeds and regressions), then fuzzes for FUZZ_SECONDS; the corpus grows in build/fuzz/corpus/.
# FUZZ_HARNESSES: a subset, e.g. "request_parser ws".
FUZZ_SECONDS ?= 180
FUZZ_HARNESSES ?=
fuzz-build: $(DEPS)
	PYTHON=$(PY) fuzz/build.sh build/fuzz

fuzz: fuzz-build
	fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_HARNESSES)

# The short pass CI runs after `make test`: a fixed seed and count (40 s for all five
# here), so that a CI run repeats itself; finding new inputs is `make fuzz`'s job.
fuzz-smoke: fuzz-build
	PYTHONHASHSEED=0 FUZZ_SEED=1 FUZZ_RUNS=$(FUZZ_SMOKE_RUNS) fuzz/run.sh 600 $(FUZZ_HARNESSES)
FUZZ_SMOKE_RUNS ?= 20000

lint: $(DEPS)
	$(PY) -m pip install -q --group lint
	$(PY) -m ruff check src tests bench fuzz setup.py
	$(PY) -m ruff format --check src tests bench fuzz setup.py
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cython-lint ext src/sailfish/protocols/*.pxd src/sailfish/wsgi/*.pxd

typecheck: $(DEPS)
	$(PY) -m pip install -q --group lint
	$(PY) -m mypy

stubtest: compile
	$(PY) -m pip install -q --group lint
	$(PY) -m mypy.stubtest sailfish._http --allowlist tests/typing/stubtest-allowlist.txt

bench: compile
	$(PY) -m pip install -q --group bench
	$(PY) bench/bench_core.py
	$(PY) bench/bench_ws.py
	$(PY) bench/bench_shell.py

clean:
	rm -rf build dist src/*.egg-info .pytest_cache .hypothesis
	rm -f src/sailfish/*.so src/sailfish/*.pyd src/sailfish/_shell/*.so src/sailfish/_shell/*.pyd ext/*.c ext/*.html

distclean: clean
	rm -rf $(VENV)

# The release path on this machine: sdist, a wheel built from the *unpacked* sdist (so a file
# missing from the sdist fails here), auditwheel's manylinux tag, then the tests copied from
# the sdist run in a fresh venv outside the source tree against the installed wheel, with
# SAILFISH_REQUIRE_EXTENSIONS=1 so they cannot pass on the pure twin. Outputs: dist/.
WHEEL_DIR   ?= $(or $(TMPDIR),/tmp)/sailfish-wheel
# tests/integration is left out while it is being written: `make wheel WHEEL_TESTS=tests`.
WHEEL_TESTS ?= tests --ignore=tests/integration

wheel: $(PY)
	$(PY) -m pip install -q --group wheel
	rm -rf dist $(WHEEL_DIR)
	# The sdist needs no cythonize (ext/ is grafted whole): don't write build/cython in the tree.
	SAILFISH_NO_EXTENSIONS=1 $(PY) -m build --sdist --outdir dist .
	mkdir -p $(WHEEL_DIR)/src $(WHEEL_DIR)/run
	tar -xzf dist/sailfish-*.tar.gz -C $(WHEEL_DIR)/src
	SAILFISH_REQUIRE_EXTENSIONS=1 $(PY) -m build --wheel --outdir $(WHEEL_DIR)/raw $(WHEEL_DIR)/src/sailfish-*/
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" auditwheel repair --wheel-dir dist $(WHEEL_DIR)/raw/*.whl
	$(PY) -m twine check --strict dist/*
	cp -R $(WHEEL_DIR)/src/sailfish-*/tests $(WHEEL_DIR)/src/sailfish-*/pyproject.toml $(WHEEL_DIR)/run/
	$(PY) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/python -m pip install -q --upgrade "pip>=25.1"
	cd $(WHEEL_DIR)/run && ../venv/bin/python -m pip install -q "$$(ls $(CURDIR)/dist/sailfish-*manylinux*.whl)" --group pyproject.toml:test
	cd $(WHEEL_DIR)/run && ../venv/bin/python -c "import pathlib, sysconfig, sailfish, sailfish._http; \
	  site = pathlib.Path(sysconfig.get_paths()['platlib']).resolve(); \
	  where = pathlib.Path(sailfish._http.__file__).resolve(); \
	  assert where.is_relative_to(site), f'sailfish imported from {where}, not {site}'; print('import sailfish ->', where)"
	cd $(WHEEL_DIR)/run && ../venv/bin/python -m sailfish --version | grep "(compiled core, compiled shell)"
	cd $(WHEEL_DIR)/run && SAILFISH_REQUIRE_EXTENSIONS=1 \
	  SAILFISH_TEST_WHEEL="$$(ls $(CURDIR)/dist/sailfish-*manylinux*.whl)" \
	  ../venv/bin/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS) $(WHEEL_TESTS)

# End-to-end servers benchmark (never part of `make test`): sailfish and its peers, one worker
# on CPU 0, wrk on CPU 1. Installs wrk (apt) and the peers into .venv-bench on first use.
# BENCH_E2E_ARGS: --quick | --duration S --rounds N --scenarios S1,S4 --servers ... (see --help)
# Then the WebSocket benchmark (bench/e2e/ws.py: echo CPU per message, idle memory per
# connection); `make bench-ws` runs it alone. BENCH_WS_ARGS: --quick | --scenarios W1,M0 ...
BENCH_E2E_ARGS ?=
# BENCH_FILES_ARGS: bench/e2e/files.py (a 1 MiB and a 100 MiB file: sailfish pathsend, uvicorn
# + Starlette FileResponse, granian, nginx sendfile) --duration S --rounds N --servers ...
# BENCH_WSGI_ARGS: bench/e2e/wsgi_bench.py (WSGI hello and 10 KiB: granian, gunicorn gthread,
# waitress, uvicorn + a2wsgi) --rounds N --duration S --servers ...; then bench/e2e/wsgi_sleep.py
# (10 requests that each sleep 0.5 s, on 10 threads: the wall time).
BENCH_FILES_ARGS ?=
BENCH_WS_ARGS ?=
BENCH_WSGI_ARGS ?=
.PHONY: bench-e2e bench-files bench-ws bench-wsgi autobahn
bench-e2e: compile
	$(PY) bench/e2e/run.py $(BENCH_E2E_ARGS)
	$(PY) bench/e2e/files.py $(BENCH_FILES_ARGS)
	$(PY) bench/e2e/ws.py $(BENCH_WS_ARGS)
	$(PY) bench/e2e/wsgi_bench.py $(BENCH_WSGI_ARGS)
	$(PY) bench/e2e/wsgi_sleep.py

bench-wsgi: compile
	$(PY) bench/e2e/wsgi_bench.py $(BENCH_WSGI_ARGS)
	$(PY) bench/e2e/wsgi_sleep.py

bench-files: compile
	$(PY) bench/e2e/files.py $(BENCH_FILES_ARGS)

bench-ws: compile
	$(PY) bench/e2e/ws.py $(BENCH_WS_ARGS)

# The whole Autobahn|Testsuite (kosoku) against `python -m sailfish` serving an echo app with
# permessage-deflate on, sections 9 (big messages) and 12-13 (compression) included; `make test`
# runs 1-7 and 10 only. Report (index.html) and summary.md in build/autobahn/. Results:
# docs/websocket-autobahn.md. AUTOBAHN_ARGS: -i CASE / -x CASE / -p N (see --help).
AUTOBAHN_ARGS ?=
autobahn: compile
	$(PY) tests/integration/autobahn_run.py --outdir build/autobahn $(AUTOBAHN_ARGS)

# Slow peers (bench/slow_peers.py): a normal client's p50/p99 while 1,000 connections trickle
# their heads and 1,000 read a 1 MiB answer at 4 KiB/s, then memory per idle connection, against
# uvicorn (and granian); raises RLIMIT_NOFILE to its hard limit (needs ~5,200 with the defaults).
# BENCH_SLOW_ARGS: --quick | --part latency,memory --phase S --rate R (0: back to back) --servers ...
BENCH_SLOW_ARGS ?=
.PHONY: bench-slow
bench-slow: compile
	$(PY) bench/slow_peers.py $(BENCH_SLOW_ARGS)

# Worker processes (2 workers each): spread across workers, failed requests during SIGHUP
# restarts and recycles, against uvicorn and granian. Uses .venv-bench (make bench-e2e makes it).
# BENCH_WORKERS_ARGS: --scenarios balance,churn,sighup,recycle --servers ... --rounds N
BENCH_WORKERS_ARGS ?=
.PHONY: bench-workers
bench-workers: compile
	.venv-bench/bin/python bench/e2e/workers.py $(BENCH_WORKERS_ARGS)

# SIGTERM under load (1 and 2 workers): 200 slow requests in flight plus a steady keep-alive
# load; lost requests, refused connects, idle-close and exit times, against uvicorn and granian.
# Uses .venv-bench (make bench-e2e makes it). BENCH_SHUTDOWN_ARGS: --servers --workers --rounds
BENCH_SHUTDOWN_ARGS ?=
.PHONY: bench-shutdown
bench-shutdown: compile
	.venv-bench/bin/python bench/shutdown.py $(BENCH_SHUTDOWN_ARGS)

# Soak (bench/soak.py): one ASGI and one WSGI sailfish worker under every kind of traffic
# (wrk per request kind, WebSocket sessions and rude clients from bench/e2e/soak_client.py) in
# rounds, with RSS, fds and asyncio tasks read between rounds; prints the verdict (RSS flat
# after warm-up, fds and tasks back to baseline). Default: 200,000 requests, a try.
# BENCH_SOAK_ARGS: --requests N --round-seconds S --no-wsgi --write-results (see --help)
BENCH_SOAK_ARGS ?=
.PHONY: bench-soak
bench-soak: compile
	$(PY) bench/soak.py $(BENCH_SOAK_ARGS)

# atheris over the Python API of both twins (fuzz/py/*.py; never part of `make test`): the
# request parser (twins agree, split anywhere; the round trip), the WSGI environ builder, the
# WebSocket frame parser and the response writer. Each harness runs FUZZ_SECONDS; its growing
# corpus is kept in build/fuzz-py/<harness>/, crashes in build/fuzz-py/artifacts/. Seeds:
# tests/corpus/valid, invalid, regressions (HTTP) and tests/corpus/fuzz/py-<harness>/.
# A finding goes to tests/corpus/regressions/ (HTTP) or tests/corpus/fuzz/py-<harness>/
# (named for what it found), where tests/http/test_fuzz_replay.py replays it.
# `make fuzz-py-smoke` is the short pass CI runs (a fixed seed and count). FUZZ_PY_ARGS: more libFuzzer flags.
FUZZ_PY_HARNESSES ?= http_parser wsgi_environ ws_frames response_writer
FUZZ_PY_ARGS ?=
.PHONY: fuzz-py fuzz-py-smoke
fuzz-py: compile
	$(PY) -m pip install -q --group fuzz
	mkdir -p build/fuzz-py/artifacts
	set -e; for h in $(FUZZ_PY_HARNESSES); do \
	  case $$h in \
	    http_parser|wsgi_environ) dict=-dict=fuzz/py/http.dict; \
	      seeds="tests/corpus/valid tests/corpus/invalid $$(ls -d tests/corpus/regressions 2>/dev/null || true)";; \
	    *) dict=; seeds="tests/corpus/fuzz/py-$$h";; \
	  esac; \
	  mkdir -p build/fuzz-py/$$h; \
	  echo "fuzz-py: $$h for $(FUZZ_SECONDS) s"; \
	  status=0; $(PY) fuzz/py/$$h.py -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -timeout=20 \
	    -print_final_stats=1 -artifact_prefix=build/fuzz-py/artifacts/$$h- $$dict $(FUZZ_PY_ARGS) \
	    build/fuzz-py/$$h $$seeds > build/fuzz-py/$$h.log 2>&1 || status=$$?; \
	  grep -v "^INFO: Instrumenting" build/fuzz-py/$$h.log | tail -n 12; \
	  test $$status -eq 0; \
	done

# A fixed seed and count, as for fuzz-smoke (5-30 s each here).
fuzz-py-smoke:
	PYTHONHASHSEED=0 $(MAKE) fuzz-py FUZZ_SECONDS=600 FUZZ_PY_ARGS="-seed=1 -runs=$(FUZZ_PY_SMOKE_RUNS)"
FUZZ_PY_SMOKE_RUNS ?= 100000

# Floods against one server (sailfish, uvicorn, granian): 10,000 connection attempts,
# --limit-concurrency, deep pipelines, tiny WebSocket frames; RSS and a normal client's p99.
# Uses .venv-bench (make bench-e2e makes it). BENCH_FLOODS_ARGS: --floods connect,pipeline
# --servers sailfish --quick (see bench/floods.py).
BENCH_FLOODS_ARGS ?=
.PHONY: bench-floods
bench-floods: compile
	.venv-bench/bin/python bench/floods.py $(BENCH_FLOODS_ARGS)
