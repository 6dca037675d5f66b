# headers.pxi: field names and the analysis of a complete head (docs/core.md step 3).
# Strategy: while validating a field line the parser records its spans (offsets into the
# head, so they survive buffer reallocation), the SF_H_* id of its name, a bit per well-known
# name the head carries and, for the six special names, the first and last line carrying each
# (sf_seen); so a Request's `forwarded` is one AND of that mask. This file builds the
# headers list (a pre-built object for a well-known name, else one lower-cased bytes) and
# judges Host, Transfer-Encoding, Content-Length, Connection, Expect and Upgrade on the spans,
# in the contract's order, visiting only the lines between those bounds and without creating
# a Python object. Line syntax (step 2) is checked in parser.pxi; the scope is in scope.pxi.
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.list cimport PyList_New
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memchr


ctypedef struct sf_field:
    Py_ssize_t name_off     # offsets are relative to the first byte of the request line
    Py_ssize_t name_len
    Py_ssize_t value_off    # value already stripped of leading/trailing SP and HTAB
    Py_ssize_t value_len
    int id                  # SF_H_* or -1


cdef enum:
    SF_NSPECIAL = 6         # SF_H_HOST .. SF_H_UPGRADE: the fields step 3 judges


ctypedef struct sf_seen:
    uint64_t bits                   # 1 << SF_H_* of each well-known name the head carries
    Py_ssize_t first[SF_NSPECIAL]   # index of the first and last line of each present one,
    Py_ssize_t last[SF_NSPECIAL]    # so step 3 visits only [first, last], not every line


ctypedef struct sf_head_info:
    bint chunked
    bint keep_alive
    bint expect_continue
    Py_ssize_t upgrade_field    # index of the first Upgrade field line to report, or -1
    Py_ssize_t upgrade_lines    # how many Upgrade field lines there are
    uint64_t content_length


# One bytes object per well-known name, built once from the C table (single source of truth),
# so a known name costs an INCREF instead of an allocation.
cdef tuple _KNOWN_NAMES = tuple([<bytes>sf_header_names[i] for i in range(SF_H_COUNT)])


cdef uint64_t _id_bits(tuple names) except? 0:
    """The sf_seen.bits of the well-known `names` (lower case), looked up in the C table."""
    cdef uint64_t mask = 0
    cdef int hid
    for name in names:
        hid = sf_header_id(<bytes>name, <size_t>len(name))
        if hid < 0:
            raise RuntimeError(f"{name!r} is not in sf_header_names")
        mask |= (<uint64_t>1) << hid
    return mask


# A Request is `forwarded` when its head carries one of these (docs/core.md "Request"): the
# shell looks for proxy fields only then.
cdef uint64_t _FORWARDED_BITS = _id_bits(
    (b"forwarded", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host")
)


# Raw-reference views of the C API for the headers loop: each new object goes straight into
# its tuple and each tuple into the list (SET_ITEM steals), with no temporaries to DECREF.
cdef extern from "Python.h":
    PyObject *_raw_bytes "PyBytes_FromStringAndSize"(const char *p, Py_ssize_t n)
    PyObject *_raw_tuple "PyTuple_New"(Py_ssize_t n)
    PyObject *_raw_known "PyTuple_GET_ITEM"(PyObject *t, Py_ssize_t i)
    char *_raw_bytes_str "PyBytes_AS_STRING"(PyObject *b)
    void _raw_tuple_set "PyTuple_SET_ITEM"(PyObject *t, Py_ssize_t i, PyObject *o)
    void _raw_list_set "PyList_SET_ITEM"(PyObject *l, Py_ssize_t i, PyObject *o)
    void _raw_incref "Py_INCREF"(PyObject *o)
    void _raw_decref "Py_DECREF"(PyObject *o)


cdef list _headers_list(const char *head, const sf_field *fields, Py_ssize_t nfields):
    """The scope's headers: (lower-cased name, value) tuples in wire order; a well-known
    name is the shared object from _KNOWN_NAMES (an INCREF instead of an allocation)."""
    cdef list headers = PyList_New(nfields)
    cdef PyObject *known = <PyObject *>_KNOWN_NAMES
    cdef PyObject *name
    cdef PyObject *value
    cdef PyObject *item
    cdef const sf_field *f
    cdef Py_ssize_t i
    for i in range(nfields):
        f = &fields[i]
        value = _raw_bytes(head + f.value_off, f.value_len)
        if value == NULL:
            raise MemoryError()
        if f.id >= 0:
            name = _raw_known(known, f.id)
            _raw_incref(name)
        else:
            name = _raw_bytes(NULL, f.name_len)
            if name == NULL:
                _raw_decref(value)
                raise MemoryError()
            sf_lower_copy(_raw_bytes_str(name), head + f.name_off, <size_t>f.name_len)
        item = _raw_tuple(2)
        if item == NULL:
            _raw_decref(name)
            _raw_decref(value)
            raise MemoryError()
        _raw_tuple_set(item, 0, name)
        _raw_tuple_set(item, 1, value)
        _raw_list_set(<PyObject *>headers, i, item)
    return headers


cdef inline bint _has_token(const char *p, Py_ssize_t n, const char *tok, size_t tn) noexcept:
    """True when the comma-separated list [p, p+n) has element `tok` (any ASCII case), each
    element stripped of OWS (RFC 9110 §5.6.1 lists; empty elements are ignored)."""
    cdef const char *end = p + n
    cdef const char *q
    cdef const char *s
    cdef const char *e
    while p < end:
        q = <const char *>memchr(p, b',', <size_t>(end - p))
        if q == NULL:
            q = end
        s = sf_skip_ows(p, q)
        e = sf_rstrip_ows(s, q)
        if sf_ieq(s, <size_t>(e - s), tok, tn):
            return True
        p = q + 1
    return False


cdef enum:
    # Bits of the "which special fields did this head carry" mask built during validation.
    SF_SEEN_HOST = 1 << SF_H_HOST
    SF_SEEN_CL = 1 << SF_H_CONTENT_LENGTH
    SF_SEEN_TE = 1 << SF_H_TRANSFER_ENCODING
    SF_SEEN_CONNECTION = 1 << SF_H_CONNECTION
    SF_SEEN_EXPECT = 1 << SF_H_EXPECT
    SF_SEEN_UPGRADE = 1 << SF_H_UPGRADE


cdef int _check_transfer_encoding(const char *head, const sf_field *fields,
                                  Py_ssize_t lo, Py_ssize_t hi, sf_why *why) noexcept:
    """SF_OK when Transfer-Encoding is exactly `chunked`, else an SF_E_* code (step 3)."""
    # "all its lines joined with commas": splitting each line on commas, in order, yields the
    # same elements as splitting the joined value (an empty line value is an empty element).
    cdef Py_ssize_t i
    cdef const char *p
    cdef const char *end
    cdef const char *q
    cdef const char *s
    cdef const char *e
    cdef int n_chunked = 0
    cdef bint other = False
    cdef bint last_chunked = False
    for i in range(lo, hi + 1):
        if fields[i].id != SF_H_TRANSFER_ENCODING:
            continue
        p = head + fields[i].value_off
        end = p + fields[i].value_len
        while True:
            q = <const char *>memchr(p, b',', <size_t>(end - p)) if p < end else NULL
            if q == NULL:
                q = end
            s = sf_skip_ows(p, q)
            e = sf_rstrip_ows(s, q)
            # An empty element, a non-token element or a parameter (";" is not a tchar).
            if s == e or sf_scan_token(s, e) != e:
                return _because(why, SF_E_INVALID_FRAMING, SF_R_TE_MALFORMED, 0, 0)
            last_chunked = sf_ieq(s, <size_t>(e - s), b"chunked", 7)
            if last_chunked:
                n_chunked += 1
            else:
                other = True
            if q == end:
                break
            p = q + 1
    # "If any transfer coding other than chunked is applied to a request's content, the
    # sender MUST apply chunked as the final transfer coding" -- RFC 9112 §6.1; a server
    # that cannot determine the length "MUST respond with the 400 (Bad Request)" -- §6.3.
    if not last_chunked:
        return _because(why, SF_E_INVALID_FRAMING, SF_R_TE_NOT_CHUNKED, 0, 0)
    if n_chunked > 1:
        return _because(why, SF_E_INVALID_FRAMING, SF_R_TE_CHUNKED_TWICE, 0, 0)
    # "A server that receives a request message with a transfer coding it does not
    # understand SHOULD respond with 501 (Not Implemented)." -- RFC 9112 §6.1
    if other:
        return _because(why, SF_E_UNSUPPORTED_TRANSFER_CODING, SF_R_TE_UNSUPPORTED, 0, 0)
    return SF_OK


cdef int _check_content_length(const char *head, const sf_field *fields, Py_ssize_t lo,
                               Py_ssize_t hi, uint64_t *out, sf_why *why) noexcept:
    """SF_OK and *out = the length, or SF_E_INVALID_FRAMING (step 3)."""
    # "If a message is received without Transfer-Encoding and with an invalid Content-Length
    # header field, then the message framing is invalid ... the server MUST respond with a
    # 400 (Bad Request) status code" -- RFC 9112 §6.3. Identical duplicates ("42, 42") are
    # accepted, as §6.3 allows and h11 does; each element is 1*DIGIT of at most 18 digits.
    cdef Py_ssize_t i
    cdef const char *p
    cdef const char *end
    cdef const char *q
    cdef const char *s
    cdef const char *e
    cdef uint64_t v = 0
    cdef bint seen = False
    for i in range(lo, hi + 1):
        if fields[i].id != SF_H_CONTENT_LENGTH:
            continue
        p = head + fields[i].value_off
        end = p + fields[i].value_len
        while True:
            q = <const char *>memchr(p, b',', <size_t>(end - p)) if p < end else NULL
            if q == NULL:
                q = end
            s = sf_skip_ows(p, q)
            e = sf_rstrip_ows(s, q)
            if sf_parse_dec(s, <size_t>(e - s), out) != SF_OK:
                return _because(why, SF_E_INVALID_FRAMING, SF_R_CL_INVALID, 0, 0)
            if seen and out[0] != v:
                return _because(why, SF_E_INVALID_FRAMING, SF_R_CL_DIFFER, 0, 0)
            v = out[0]
            seen = True
            if q == end:
                break
            p = q + 1
    out[0] = v
    return SF_OK


cdef inline int _expectations(const char *p, Py_ssize_t n) noexcept nogil:
    """One Expect line (Expect = #expectation, RFC 9110 §10.1.1): -1 when an element is not
    100-continue (case-insensitive; OWS around elements and empty elements ignored), 1 when
    one is, 0 when there is none."""
    cdef Py_ssize_t i = 0, start, stop
    cdef int found = 0
    while i <= n:
        start = i
        while i < n and p[i] != b',':
            i += 1
        stop = i
        while start < stop and (p[start] == b' ' or p[start] == b'\t'):
            start += 1
        while stop > start and (p[stop - 1] == b' ' or p[stop - 1] == b'\t'):
            stop -= 1
        if stop > start:
            if not sf_ieq(p + start, <size_t>(stop - start), b"100-continue", 12):
                return -1
            found = 1
        i += 1
    return found


cdef int _analyse_head(const char *head, const sf_field *fields, const sf_seen *sp,
                       bint http11, int64_t max_body, sf_head_info *info, sf_why *why) noexcept:
    """Judge a complete, line-valid head (docs/core.md step 3, in its order); fill *info, or
    return an SF_E_* code with its reason in *why."""
    cdef Py_ssize_t i
    cdef uint64_t seen = sp.bits
    cdef const sf_field *f
    cdef bint close = False
    cdef bint keep = False
    cdef bint upgrade_token = False
    cdef int rc
    info.chunked = False
    info.content_length = 0
    info.expect_continue = False
    info.upgrade_field = -1
    info.upgrade_lines = 0

    # "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request
    # message that lacks a Host header field and to any request message that contains more
    # than one Host header field line or a Host header field with an invalid field value."
    # -- RFC 9112 §3.2
    if seen & SF_SEEN_HOST:
        if sp.first[SF_H_HOST] != sp.last[SF_H_HOST]:
            return _because(why, SF_E_INVALID_HOST, SF_R_HOST_MANY, 0, 0)
        f = &fields[sp.first[SF_H_HOST]]
        if not sf_valid_host(head + f.value_off, <size_t>f.value_len, False):
            return _because(why, SF_E_INVALID_HOST, SF_R_HOST_INVALID, 0, 0)
    elif http11:
        return _because(why, SF_E_INVALID_HOST, SF_R_HOST_MISSING, 0, 0)

    if seen & SF_SEEN_TE:
        # "A server MAY reject a request that contains both Content-Length and
        # Transfer-Encoding or process such a request in accordance with the
        # Transfer-Encoding alone." -- RFC 9112 §6.1 (we reject: smuggling defence)
        if seen & SF_SEEN_CL:
            return _because(why, SF_E_INVALID_FRAMING, SF_R_CL_AND_TE, 0, 0)
        # "A server or client that receives an HTTP/1.0 message containing a
        # Transfer-Encoding header field MUST treat the message as if the framing is faulty"
        # -- RFC 9112 §6.1
        if not http11:
            return _because(why, SF_E_INVALID_FRAMING, SF_R_TE_HTTP10, 0, 0)
        rc = _check_transfer_encoding(head, fields, sp.first[SF_H_TRANSFER_ENCODING],
                                      sp.last[SF_H_TRANSFER_ENCODING], why)
        if rc != SF_OK:
            return rc
        info.chunked = True
    elif seen & SF_SEEN_CL:
        rc = _check_content_length(head, fields, sp.first[SF_H_CONTENT_LENGTH],
                                   sp.last[SF_H_CONTENT_LENGTH], &info.content_length, why)
        if rc != SF_OK:
            return rc
        if max_body >= 0 and info.content_length > <uint64_t>max_body:
            return _because(why, SF_E_BODY_TOO_LARGE, SF_R_BODY_LENGTH, info.content_length,
                            <uint64_t>max_body)

    if seen & SF_SEEN_CONNECTION:
        for i in range(sp.first[SF_H_CONNECTION], sp.last[SF_H_CONNECTION] + 1):
            f = &fields[i]
            if f.id == SF_H_CONNECTION:
                close = close or _has_token(head + f.value_off, f.value_len, b"close", 5)
                keep = keep or _has_token(head + f.value_off, f.value_len, b"keep-alive", 10)
                upgrade_token = upgrade_token or _has_token(
                    head + f.value_off, f.value_len, b"upgrade", 7)
    # "A server that receives an Expect field value containing a member other than
    # 100-continue MAY respond with a 417 (Expectation Failed)" -- RFC 9110 §10.1.1: we do, for
    # HTTP/1.1 (HTTP/1.0 expectations are ignored, below).
    if http11 and seen & SF_SEEN_EXPECT:
        for i in range(sp.first[SF_H_EXPECT], sp.last[SF_H_EXPECT] + 1):
            f = &fields[i]
            if f.id == SF_H_EXPECT:
                rc = _expectations(head + f.value_off, f.value_len)
                if rc < 0:
                    return _because(why, SF_E_EXPECTATION_FAILED, SF_R_EXPECTATION, 0, 0)
                if rc:
                    info.expect_continue = True
    if seen & SF_SEEN_UPGRADE:
        # Several Upgrade lines: the caller joins them with ", " (RFC 9110 §5.3).
        info.upgrade_field = sp.first[SF_H_UPGRADE]
        for i in range(sp.first[SF_H_UPGRADE], sp.last[SF_H_UPGRADE] + 1):
            if fields[i].id == SF_H_UPGRADE:
                info.upgrade_lines += 1
    # "A server that receives an HTTP/1.0 request ... MUST ignore" Upgrade (RFC 9110 §7.8)
    # and expectations (RFC 9110 §10.1.1); 1.0 persists only with keep-alive (RFC 9112 §9.3).
    if http11:
        info.keep_alive = not close
        info.expect_continue = info.expect_continue and (
            info.chunked or info.content_length > 0)
        if not upgrade_token:
            info.upgrade_field = -1
    else:
        info.keep_alive = keep and not close
        info.expect_continue = False
        info.upgrade_field = -1
    return SF_OK


cdef bytes _upgrade_value(list headers, const sf_field *fields, Py_ssize_t nfields,
                          const sf_head_info *info):
    """The Upgrade value to report: the field's value, or all its lines joined with ", "."""
    cdef Py_ssize_t i
    if info.upgrade_lines == 1:
        return <bytes>(<tuple>headers[info.upgrade_field])[1]
    # "A recipient MAY combine multiple field lines ... separated by a comma (",") and
    # optional whitespace" -- RFC 9110 §5.3
    return b", ".join([(<tuple>headers[i])[1] for i in range(nfields)
                       if fields[i].id == SF_H_UPGRADE])
