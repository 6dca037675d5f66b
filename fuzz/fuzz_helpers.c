/*
 * fuzz_helpers.c: libFuzzer harness over the request parser's C helpers (ext/include/sf_helpers.h).
 *
 * Strategy: the first input byte picks a helper, the rest is the untrusted span it gets. Every
 * helper is checked against a byte-at-a-time reference written here from the contract above its
 * prototype (or from docs/core.md), so a wrong answer is a crash, not only a wild read. The span
 * is copied into a heap block of exactly its length, so AddressSanitizer sees any read past it
 * (the SSE2 paths load 16 bytes at a time). Nothing here may call into Python.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_helpers.h"

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_helpers: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

/* -- references ------------------------------------------------------------------------------ */

/* RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
 * "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static int ref_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* field-value byte: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). */
static int ref_value(unsigned char c)
{
    return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

static int ref_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned ref_hexval(unsigned char c)
{
    return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* docs/core.md: reg-name bytes A-Za-z0-9-._~!$&'()*+,;=% */
static int ref_regname(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c != 0 && strchr("-._~!$&'()*+,;=%", c) != NULL);
}

/* docs/core.md: inside an IP-literal, HEXDIG ":" "." "v" */
static int ref_iplit(unsigned char c)
{
    return ref_hex(c) || c == ':' || c == '.' || c == 'v';
}

static int ref_valid_host(const unsigned char *p, size_t n, int need_port)
{
    size_t i = 0;
    if (n > 0 && p[0] == '[') {
        size_t j = 1;
        while (j < n && ref_iplit(p[j]))
            j++;
        if (j == 1 || j == n || p[j] != ']')
            return 0;
        i = j + 1;
    } else {
        while (i < n && ref_regname(p[i]))
            i++;
    }
    if (i == n)
        return !need_port;
    if (p[i] != ':')
        return 0;
    for (i++; i < n; i++)
        if (p[i] < '0' || p[i] > '9')
            return 0;
    return 1;
}

/* -- one check per helper -------------------------------------------------------------------- */

static void check_scanners(const char *d, size_t n, size_t start)
{
    const char *end = d + n, *p = d + start, *got;
    size_t i;
    /* sf_scan_token */
    for (i = start; i < n && ref_tchar((unsigned char)d[i]); i++)
        ;
    CHECK(sf_scan_token(p, end) == d + i);
    /* sf_scan_value, with lo = d (so the tail block may be re-read from before p) */
    for (i = start; i < n && ref_value((unsigned char)d[i]); i++)
        ;
    CHECK(sf_scan_value(d, p, end) == d + i);
    CHECK(sf_scan_value(p, p, end) == d + i);
    /* sf_scan_vchar */
    for (i = start; i < n && d[i] >= 0x21 && d[i] <= 0x7e; i++)
        ;
    CHECK(sf_scan_vchar(p, end) == d + i);
    /* sf_skip_ows / sf_rstrip_ows */
    for (i = start; i < n && (d[i] == ' ' || d[i] == '\t'); i++)
        ;
    CHECK(sf_skip_ows(p, end) == d + i);
    for (i = n; i > start && (d[i - 1] == ' ' || d[i - 1] == '\t'); i--)
        ;
    CHECK(sf_rstrip_ows(p, end) == d + i);
    /* sf_find_lf */
    got = sf_find_lf(p, end);
    for (i = start; i < n && d[i] != '\n'; i++)
        ;
    CHECK(got == (i < n ? d + i : NULL));
    /* sf_has_pct */
    for (i = start; i < n && d[i] != '%'; i++)
        ;
    CHECK(sf_has_pct(p, n - start) == (i < n));
}

/* The cursor, asked at increasing positions chosen by the data: each answer must be the first
 * non-value byte at or after the position. */
static void check_ctl_cursor(const char *d, size_t n, const unsigned char *steps, size_t nsteps)
{
    sf_ctl_cursor cur;
    size_t pos = 0, k = 0, i;
    sf_ctl_init(&cur, d, d + n);
    while (pos <= n) {
        const char *got = sf_ctl_next(&cur, d + pos);
        for (i = pos; i < n && ref_value((unsigned char)d[i]); i++)
            ;
        CHECK(got == d + i);
        /* Next position: sometimes just past the answer (as the parser does), sometimes a jump. */
        if (k < nsteps && steps[k] & 1)
            pos = pos + (steps[k] >> 1);
        else
            pos = i + 1;
        k++;
    }
}

static void check_numbers(const char *d, size_t n)
{
    uint64_t got = 12345, want = 0;
    size_t i, lead = 0;
    int ok;
    /* sf_count_hex with every cap up to n + 1 worth checking: cap below, at and above n. */
    while (lead < n && ref_hex((unsigned char)d[lead]))
        lead++;
    CHECK(sf_count_hex(d, n, (size_t)-1) == lead);
    CHECK(sf_count_hex(d, n, 16) == (lead < 16 ? lead : 16));
    CHECK(sf_count_hex(d, n, 0) == 0);
    /* sf_parse_hex: exactly n HEXDIG, 1..16 of them, value < 2**63. */
    ok = n >= 1 && n <= 16 && lead == n;
    want = 0;
    if (ok) {
        for (i = 0; i < n; i++)
            want = want * 16 + ref_hexval((unsigned char)d[i]);
        ok = want < ((uint64_t)1 << 63);
    }
    got = 12345;
    if (ok) {
        CHECK(sf_parse_hex(d, n, &got) == SF_OK && got == want);
    } else {
        CHECK(sf_parse_hex(d, n, &got) == SF_E_INVALID && got == 12345);
    }
    /* sf_parse_dec: exactly n DIGIT, 1..18 of them. */
    ok = n >= 1 && n <= 18;
    want = 0;
    for (i = 0; ok && i < n; i++) {
        if (d[i] < '0' || d[i] > '9')
            ok = 0;
        else
            want = want * 10 + (uint64_t)(d[i] - '0');
    }
    got = 12345;
    if (ok) {
        CHECK(sf_parse_dec(d, n, &got) == SF_OK && got == want);
    } else {
        CHECK(sf_parse_dec(d, n, &got) == SF_E_INVALID && got == 12345);
    }
}

static void check_pct_decode(const char *d, size_t n)
{
    char *out = malloc(n ? n : 1), *want = malloc(n ? n : 1);
    size_t i = 0, o = 0, got;
    CHECK(out != NULL && want != NULL);
    /* urllib.parse.unquote_to_bytes: "%" HEXDIG HEXDIG decodes, anything else is copied. */
    while (i < n) {
        if (d[i] == '%' && n - i >= 3 && ref_hex((unsigned char)d[i + 1])
            && ref_hex((unsigned char)d[i + 2])) {
            unsigned hi = ref_hexval((unsigned char)d[i + 1]);
            unsigned lo = ref_hexval((unsigned char)d[i + 2]);
            want[o++] = (char)(hi * 16 + lo);
            i += 3;
        } else {
            want[o++] = d[i++];
        }
    }
    got = sf_pct_decode(out, d, n);
    CHECK(got == o && memcmp(out, want, o) == 0);
    free(out);
    free(want);
}

static void check_header_id(const char *d, size_t n)
{
    int want = -1, id, i;
    size_t k;
    /* Only tchar names reach sf_header_id (the parser validates first). */
    for (k = 0; k < n; k++)
        if (!ref_tchar((unsigned char)d[k]))
            return;
    for (id = 0; id < SF_H_COUNT; id++) {
        const char *name = sf_header_names[id];
        if (strlen(name) != n)
            continue;
        for (i = 0; i < (int)n; i++) {
            unsigned char c = (unsigned char)d[i];
            if (c >= 'A' && c <= 'Z')
                c |= 0x20;
            if (c != (unsigned char)name[i])
                break;
        }
        if (i == (int)n) {
            want = id;
            break;
        }
    }
    CHECK(sf_header_id(d, n) == want);
    if (want >= 0)
        CHECK(sf_ieq(d, n, sf_header_names[want], n));
}

static void check_request_line_bad(const char *d, size_t n, size_t start)
{
    ptrdiff_t want = -1, i;
    for (i = (ptrdiff_t)start; i < (ptrdiff_t)n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '\r') {
            if (i + 1 < (ptrdiff_t)n) {
                want = i + 1;
                break;
            }
        } else if (c < 0x20 || c > 0x7e) {
            want = i;
            break;
        }
    }
    CHECK(sf_request_line_bad(d, (ptrdiff_t)start, (ptrdiff_t)n) == want);
}

static void check_lower(const char *d, size_t n)
{
    char *out = malloc(n ? n : 1);
    size_t i;
    CHECK(out != NULL);
    sf_lower_copy(out, d, n);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        CHECK((unsigned char)out[i] == (c >= 'A' && c <= 'Z' ? c + 32 : c));
    }
    CHECK(sf_ieq(out, n, out, n));
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sel;
    char *d;
    size_t n, start;
    if (size < 2)
        return 0;
    sel = data[0];
    n = size - 2;
    /* Exactly n bytes on the heap: a read past the span is an ASan report. */
    d = malloc(n ? n : 1);
    if (d == NULL)
        return 0;
    memcpy(d, data + 2, n);
    start = n ? data[1] % (n + 1) : 0;
    switch (sel % 8) {
    case 0:
        check_scanners(d, n, start);
        break;
    case 1:
        check_ctl_cursor(d, n, data + 1, 1);
        /* Re-run with the steps taken from the span itself (reads are bounds-checked above). */
        check_ctl_cursor(d, n, (const unsigned char *)d, n);
        break;
    case 2:
        check_numbers(d, n);
        break;
    case 3:
        check_pct_decode(d, n);
        break;
    case 4:
        CHECK(sf_valid_host(d, n, 0) == ref_valid_host((const unsigned char *)d, n, 0));
        CHECK(sf_valid_host(d, n, 1) == ref_valid_host((const unsigned char *)d, n, 1));
        break;
    case 5:
        check_header_id(d, n);
        break;
    case 6:
        check_request_line_bad(d, n, start);
        break;
    default:
        check_lower(d, n);
        check_scanners(d, n, 0);
        break;
    }
    free(d);
    return 0;
}
