# Declarations of ext/include/sf_helpers.h and sf_threads.h for the fragments of sailfish._http.
# Strategy: extern declarations only (no Python-visible names, no runtime import), so this
# .pxd can be cimported by bare name from the flat ext/ directory. The functions are pure C
# on (const char*, length) spans and never touch Python, hence `nogil` (the parser still
# never releases the GIL per request: that costs more than parsing a head).
from libc.stddef cimport ptrdiff_t
from libc.stdint cimport uint64_t


cdef extern from "sf_helpers.h" nogil:
    int SAILFISH_DEBUG

    enum:
        SF_OK
        SF_E_INVALID
        SF_E_INCOMPLETE
        SF_E_REQUEST_LINE_TOO_LONG
        SF_E_INVALID_REQUEST_LINE
        SF_E_INVALID_METHOD
        SF_E_INVALID_TARGET
        SF_E_INVALID_VERSION
        SF_E_UNSUPPORTED_VERSION
        SF_E_HEADERS_TOO_LARGE
        SF_E_INVALID_HEADER
        SF_E_INVALID_HOST
        SF_E_INVALID_FRAMING
        SF_E_UNSUPPORTED_TRANSFER_CODING
        SF_E_INVALID_CHUNK
        SF_E_BODY_TOO_LARGE
        SF_E_EXPECTATION_FAILED

    enum:
        SF_C_TCHAR
        SF_C_VALUE
        SF_C_VCHAR
        SF_C_HEX
        SF_C_REGNAME
        SF_C_DIGIT
        SF_C_IPLIT

    enum:
        SF_H_HOST
        SF_H_CONTENT_LENGTH
        SF_H_TRANSFER_ENCODING
        SF_H_CONNECTION
        SF_H_EXPECT
        SF_H_UPGRADE
        SF_H_COUNT
        SF_H_MAXLEN

    const unsigned char sf_ctype[256]
    const unsigned char sf_hexval[256]
    const unsigned char sf_lower[256]
    const char *const sf_header_names[]

    const char *sf_scan_token(const char *p, const char *end)
    const char *sf_scan_value(const char *lo, const char *p, const char *end)
    const char *sf_scan_vchar(const char *p, const char *end)
    ctypedef struct sf_ctl_cursor:
        pass
    void sf_ctl_init(sf_ctl_cursor *c, const char *start, const char *end)
    const char *sf_ctl_next(sf_ctl_cursor *c, const char *p)
    const char *sf_skip_ows(const char *p, const char *end)
    const char *sf_rstrip_ows(const char *p, const char *end)
    const char *sf_find_lf(const char *p, const char *end)
    size_t sf_count_hex(const char *p, size_t n, size_t cap)
    int sf_parse_hex(const char *p, size_t n, uint64_t *out)
    int sf_parse_dec(const char *p, size_t n, uint64_t *out)
    int sf_ieq(const char *p, size_t n, const char *lit, size_t ln)
    void sf_lower_copy(char *dst, const char *src, size_t n)
    int sf_has_pct(const char *p, size_t n)
    size_t sf_pct_decode(char *dst, const char *src, size_t n)
    int sf_valid_host(const char *p, size_t n, int need_port)
    int sf_header_id(const char *p, size_t n)
    ptrdiff_t sf_request_line_bad(const char *d, ptrdiff_t start, ptrdiff_t end)


cdef extern from "sf_threads.h" nogil:
    # A per-object busy flag (atomic without the GIL) and the per-thread date line cache.
    int sf_enter(int *busy)
    void sf_leave(int *busy)

    ctypedef struct sf_date_line:
        long long second
        Py_ssize_t len
        char line[64]

    sf_date_line *sf_date_cache()
