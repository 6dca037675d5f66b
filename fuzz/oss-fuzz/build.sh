#!/bin/bash -eu
# OSS-Fuzz build script for sailfish: run from the repository root ($SRC/sailfish) inside
# gcr.io/oss-fuzz-base/base-builder-python, with CC, CFLAGS, LIB_FUZZING_ENGINE and OUT set.

# The compiled core with the image's sanitizer flags plus coverage for libFuzzer; a failed
# compile is an error, not a silent fall-back to the pure-Python twin.
CFLAGS="$CFLAGS -fsanitize=fuzzer-no-link" CXXFLAGS="$CXXFLAGS -fsanitize=fuzzer-no-link" \
    SAILFISH_REQUIRE_EXTENSIONS=1 pip3 install --no-build-isolation .

# The harnesses over the core: atheris entry points around fuzz/targets.py.
for target in request_parser response_writer frame_parser; do
    compile_python_fuzzer "fuzz/oss-fuzz/fuzz_$target.py" --paths fuzz \
        --hidden-import sailfish._http
done

# The pure-C harnesses over ext/include/*.h.
for h in helpers ws; do
    $CC $CFLAGS -Iext/include -c "fuzz/fuzz_$h.c" -o "$WORK/fuzz_$h.o"
    $CC $CFLAGS $LIB_FUZZING_ENGINE "$WORK/fuzz_$h.o" -o "$OUT/fuzz_$h"
done

# Seeds, options and dictionaries, named after each fuzzer.
for h in helpers ws request_parser response_writer frame_parser; do
    (cd "tests/corpus/fuzz/$h" && zip -q -r "$OUT/fuzz_${h}_seed_corpus.zip" .)
    cp "fuzz/fuzz_$h.options" "$OUT/"
done
cp fuzz/fuzz_request_parser.dict "$OUT/"
