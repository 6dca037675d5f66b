/*
 * sf_threads.h: what lets sailfish._http run without the GIL (free-threaded CPython, PEP 703).
 *
 * Strategy: everything else the module keeps at file scope is written once, at import (the
 * character tables, the status lines, the interned names), so two things remain, both here.
 * (1) Each object with state a call can change (RequestParser, ResponseWriter, FrameParser,
 * and each direction of a Deflate) has an `int` busy flag that its methods set for the length
 * of the call: sf_enter() sets it and says whether it was clear. A thread that finds it set
 * raises ConcurrentUseError and never touches the object's buffers. Free-threaded builds set
 * the flag with an atomic exchange; with the GIL a plain test-and-set is enough, as no other
 * thread runs between the test and the store (the flag still catches a call re-entering the
 * object from a callback). (2) The writer's cached `date` field line: one per process with the
 * GIL, one per thread without it, so no thread copies a line another thread is rewriting.
 * Nothing here is needed or paid for by GIL builds beyond a flag test and two stores per call.
 */
#ifndef SF_THREADS_H
#define SF_THREADS_H

#include <Python.h>

#if defined(Py_GIL_DISABLED)
/* 1 if the flag was clear (the caller now holds the object), 0 if someone else holds it. */
static inline int sf_enter(int *busy)
{
    return _Py_atomic_exchange_int(busy, 1) == 0;
}
/* Give the object back: everything written while holding it is visible to the next holder. */
static inline void sf_leave(int *busy)
{
    _Py_atomic_store_int_release(busy, 0);
}
#else
static inline int sf_enter(int *busy)
{
    if (*busy)
        return 0;
    *busy = 1;
    return 1;
}
static inline void sf_leave(int *busy)
{
    *busy = 0;
}
#endif

/* The `date` field line ("date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", IMF-fixdate, RFC 9110
 * §5.6.7) of the second `second`; ext/writer.pxi formats it, at most once a second. */
typedef struct {
    long long second; /* -1 until the first response */
    Py_ssize_t len;
    char line[64];
} sf_date_line;

#if defined(Py_GIL_DISABLED)
#if defined(_MSC_VER)
#define SF_PER_THREAD __declspec(thread)
#else
#define SF_PER_THREAD __thread
#endif
#else
#define SF_PER_THREAD
#endif

static SF_PER_THREAD sf_date_line sf_date = {-1, 0, {0}};

/* The calling thread's date line (the process's, with the GIL). */
static inline sf_date_line *sf_date_cache(void)
{
    return &sf_date;
}

#undef SF_PER_THREAD

#endif /* SF_THREADS_H */
