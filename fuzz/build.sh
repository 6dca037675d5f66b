#!/usr/bin/env bash
# Build the libFuzzer harnesses into $OUT (default build/fuzz): the pure-C ones over
# ext/include/*.h, and one binary per target of fuzz/targets.py, each embedding CPython with
# the core (Cython's C for ext/_http.pyx) compiled in with coverage instrumentation.
#
# Usage: fuzz/build.sh [OUT]. Environment: PYTHON (the interpreter to embed; needs Cython and a
# shared libpython), CC (default clang). Under OSS-Fuzz, CFLAGS and LIB_FUZZING_ENGINE come from
# the build image and SANITIZER_FLAGS may be empty; locally the defaults below apply.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${1:-${OUT:-build/fuzz}}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
PYTHON=${PYTHON:-python3}
CC=${CC:-clang}
SAN=${SANITIZER_FLAGS--fsanitize=address,undefined -fno-sanitize-recover=undefined}
# The core and the C harnesses: coverage (fuzzer-no-link) plus the sanitizers.
CFLAGS=${CFLAGS:-"-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link $SAN"}
LIB_FUZZING_ENGINE=${LIB_FUZZING_ENGINE:-"-fsanitize=fuzzer $SAN"}
# The driver itself is not instrumented for coverage: its paths are the same for every input.
DRIVER_CFLAGS=${DRIVER_CFLAGS:-"-O1 -g -fno-omit-frame-pointer $SAN"}

# Where Python.h and libpython are: the shared library if there is one (LIBDIR), else the
# static one (LIBPL), with the libraries it needs.
read -r PY_INCLUDE PY_LIBDIR PY_LIBPL PY_LDVERSION PY_LIBS < <("$PYTHON" - <<'EOF'
import sysconfig
v = sysconfig.get_config_var
libs = " ".join(filter(None, [v("LIBS"), v("SYSLIBS")]))
print(sysconfig.get_paths()["include"], v("LIBDIR"), v("LIBPL"), v("LDVERSION"), libs)
EOF
)

# 1. The pure-C harnesses.
for h in helpers ws; do
    $CC $CFLAGS -Iext/include -c "fuzz/fuzz_$h.c" -o "$OUT/fuzz_$h.o"
    $CC $CFLAGS $LIB_FUZZING_ENGINE "$OUT/fuzz_$h.o" -o "$OUT/fuzz_$h"
done

# 2. The core: the release directives of setup.py, so the fuzzed code is the shipped code.
DIRECTIVES=embedsignature=True,wraparound=False,boundscheck=False,initializedcheck=False
"$PYTHON" -m cython -3 -I ext --directive "$DIRECTIVES,cdivision=True" -o "$OUT/_http.c" ext/_http.pyx
# Cython's argument-parsing boilerplate computes NULL + 0 for calls without positional
# arguments (UBSan's pointer-overflow check); the core's own pointers stay under ASan.
$CC $CFLAGS -fno-sanitize=pointer-overflow -Wno-unused-function -Iext/include -I"$PY_INCLUDE" \
    -c "$OUT/_http.c" -o "$OUT/_http.o"

# 3. One embedding binary per target; sys.path points at the sources (or, with
# SF_FUZZ_PYTHON=copy, at a copy beside the binaries, for OSS-Fuzz's $OUT).
if [ "${SF_FUZZ_PYTHON:-}" = copy ]; then
    rm -rf "$OUT/python" && mkdir -p "$OUT/python"
    (cd src && find sailfish -name '*.py' -exec install -D -m 644 {} "$OUT/python/{}" \;)
    cp fuzz/targets.py "$OUT/python/"
    FUZZ_PATH='$ORIGIN/python'
else
    FUZZ_PATH="$ROOT/src:$ROOT/fuzz"
fi
for t in request_parser response_writer frame_parser; do
    $CC $DRIVER_CFLAGS -I"$PY_INCLUDE" -DSF_FUZZ_TARGET="\"$t\"" -DSF_FUZZ_PATH="\"$FUZZ_PATH\"" \
        -c fuzz/driver.c -o "$OUT/driver_$t.o"
    # shellcheck disable=SC2086
    $CC $LIB_FUZZING_ENGINE "$OUT/driver_$t.o" "$OUT/_http.o" -L"$PY_LIBDIR" -L"$PY_LIBPL" \
        -l"python$PY_LDVERSION" -Wl,-rpath,"$PY_LIBDIR" $PY_LIBS -lm -o "$OUT/fuzz_$t"
done
echo "fuzz/build.sh: built $(cd "$OUT" && ls fuzz_* | grep -v '\.o$' | tr '\n' ' ')in $OUT"
