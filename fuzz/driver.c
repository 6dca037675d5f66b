/*
 * driver.c: a libFuzzer target that embeds CPython and calls one oracle of fuzz/targets.py per
 * input, with the compiled core (Cython's C for ext/_http.pyx, built with sanitizers and coverage
 * instrumentation) linked into this binary as the built-in module sailfish._http.
 *
 * Strategy: LLVMFuzzerInitialize starts the interpreter once (pymalloc off, so every Python
 * object the core makes is a malloc block AddressSanitizer watches; no Python signal handlers,
 * so libFuzzer keeps its own), registers the core through the inittab (no dlopen, no chance of
 * importing an uninstrumented copy), puts the pure-Python parts on sys.path and looks up the
 * target named by SF_FUZZ_TARGET. Each input becomes one bytes object and one call; any
 * exception (an oracle's AssertionError or anything unexpected) is printed and aborts, which
 * libFuzzer records as a crash. Only the core is instrumented, so coverage is the core's.
 *
 * sys.path comes from SAILFISH_FUZZ_PATH at run time, else from SF_FUZZ_PATH (set by
 * fuzz/build.sh): colon-separated; a leading "$ORIGIN" stands for this executable's directory.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef SF_FUZZ_TARGET
#error "define SF_FUZZ_TARGET, the name of a function in fuzz/targets.py"
#endif
#ifndef SF_FUZZ_PATH
#define SF_FUZZ_PATH "$ORIGIN/python"
#endif

PyMODINIT_FUNC PyInit__http(void);

static PyObject *target;

static void die(const char *what)
{
    fprintf(stderr, "fuzz driver: %s\n", what);
    if (PyErr_Occurred())
        PyErr_Print();
    abort();
}

/* Insert each entry of the colon-separated `spec` at the front of sys.path, in order. */
static void add_paths(const char *spec)
{
    char origin[PATH_MAX], entry[PATH_MAX * 2];
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    Py_ssize_t at = 0;
    ssize_t n = readlink("/proc/self/exe", origin, sizeof origin - 1);
    char *slash;
    origin[n > 0 ? n : 0] = '\0';
    slash = strrchr(origin, '/');
    if (slash != NULL)
        *slash = '\0';
    if (path == NULL)
        die("no sys.path");
    while (*spec) {
        const char *colon = strchr(spec, ':');
        size_t len = colon ? (size_t)(colon - spec) : strlen(spec);
        PyObject *item;
        if (len >= 7 && strncmp(spec, "$ORIGIN", 7) == 0)
            snprintf(entry, sizeof entry, "%s%.*s", origin, (int)(len - 7), spec + 7);
        else
            snprintf(entry, sizeof entry, "%.*s", (int)len, spec);
        item = PyUnicode_DecodeFSDefault(entry);
        if (item == NULL || PyList_Insert(path, at++, item) < 0)
            die("cannot extend sys.path");
        Py_DECREF(item);
        spec += len + (colon ? 1 : 0);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    PyPreConfig pre;
    PyConfig config;
    PyStatus status;
    PyObject *module, *core, *origin;
    const char *spec = getenv("SAILFISH_FUZZ_PATH");
    (void)argc;
    (void)argv;

    PyPreConfig_InitPythonConfig(&pre);
    pre.allocator = PYMEM_ALLOCATOR_MALLOC;
    status = Py_PreInitialize(&pre);
    if (PyStatus_Exception(status))
        Py_ExitStatusException(status);
    if (PyImport_AppendInittab("sailfish._http", PyInit__http) < 0)
        die("cannot register sailfish._http");
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    config.write_bytecode = 0;
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status))
        Py_ExitStatusException(status);

    add_paths(spec != NULL && *spec ? spec : SF_FUZZ_PATH);
    core = PyImport_ImportModule("sailfish._http");
    if (core == NULL)
        die("cannot import sailfish._http");
    /* The instrumented core, not a copy found on disk: its spec says "built-in". */
    origin = PyObject_GetAttrString(core, "__spec__");
    if (origin != NULL)
        Py_SETREF(origin, PyObject_GetAttrString(origin, "origin"));
    if (origin == NULL || !PyUnicode_Check(origin)
        || PyUnicode_CompareWithASCIIString(origin, "built-in") != 0)
        die("sailfish._http was not imported from the built-in instrumented module");
    Py_DECREF(origin);
    Py_DECREF(core);
    module = PyImport_ImportModule("targets");
    if (module == NULL)
        die("cannot import fuzz/targets.py");
    target = PyObject_GetAttrString(module, SF_FUZZ_TARGET);
    Py_DECREF(module);
    if (target == NULL)
        die("no such target in fuzz/targets.py: " SF_FUZZ_TARGET);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PyObject *arg, *result;
    arg = PyBytes_FromStringAndSize((const char *)data, (Py_ssize_t)size);
    if (arg == NULL)
        die("cannot make the input bytes");
    result = PyObject_CallOneArg(target, arg);
    Py_DECREF(arg);
    if (result == NULL)
        die("the target raised (an oracle failed, or the core raised what it must not)");
    Py_DECREF(result);
    return 0;
}
