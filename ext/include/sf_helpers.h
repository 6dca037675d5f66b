/*
 * sf_helpers.h: the C half of sailfish's request parser (sailfish._http).
 *
 * Strategy: small static inline functions over `const char *` spans that never touch
 * Python: 256-entry character tables, scanners that return the first byte outside a class
 * (SSE2 under #if, always with a portable loop), LF search, checked hex/decimal parsing,
 * percent-decoding, uri-host validation and the known-header-name table. Errors are the
 * negative SF_E_* codes below; errors.pxi maps them to sailfish.errors classes. The parser
 * state machine itself lives in parser.pxi. Portable C99: gcc, clang and MSVC.
 * Local macros are #undef'd at the end of this file.
 */
#ifndef SF_HELPERS_H
#define SF_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#ifndef SAILFISH_DEBUG
#define SAILFISH_DEBUG 0
#endif

/* Cython's generated C defines likely/unlikely too: define ours only when absent, and
 * #undef at the end only what this file defined. */
#ifndef likely
#define SF_OWN_LIKELY 1
#if defined(__GNUC__) || defined(__clang__)
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#else
#define likely(x) (x)
#define unlikely(x) (x)
#endif
#endif

/* SSE2 is part of the x86-64 baseline (and MSVC x64); SF_NO_SIMD forces the portable loops. */
#if !defined(SF_NO_SIMD) && (defined(__SSE2__) || defined(_M_X64) || defined(_M_AMD64))
#define SF_SIMD_SSE2 1
#include <emmintrin.h>
#if defined(_MSC_VER) && !defined(__clang__)
#include <intrin.h>
static __inline unsigned sf_ctz16(unsigned m)
{
    unsigned long i;
    _BitScanForward(&i, m);
    return (unsigned)i;
}
static __inline unsigned sf_ctz64(uint64_t m)
{
    unsigned long i;
    _BitScanForward64(&i, m);
    return (unsigned)i;
}
#else
#define sf_ctz16(m) ((unsigned)__builtin_ctz(m))
#define sf_ctz64(m) ((unsigned)__builtin_ctzll(m))
#endif
#endif

/* Error codes: every C helper and every parse step returns >= 0 or one of these. */
enum {
    SF_OK = 0,
    SF_E_INVALID = -1,            /* generic failure of a helper (caller picks the class) */
    SF_E_INCOMPLETE = -2,         /* need more bytes (picohttpparser: "-2 if partial") */
    SF_E_REQUEST_LINE_TOO_LONG = -3,
    SF_E_INVALID_REQUEST_LINE = -4,
    SF_E_INVALID_METHOD = -5,
    SF_E_INVALID_TARGET = -6,
    SF_E_INVALID_VERSION = -7,
    SF_E_UNSUPPORTED_VERSION = -8,
    SF_E_HEADERS_TOO_LARGE = -9,
    SF_E_INVALID_HEADER = -10,
    SF_E_INVALID_HOST = -11,
    SF_E_INVALID_FRAMING = -12,
    SF_E_UNSUPPORTED_TRANSFER_CODING = -13,
    SF_E_INVALID_CHUNK = -14,
    SF_E_BODY_TOO_LARGE = -15,
    SF_E_EXPECTATION_FAILED = -16
};

/* Character classes, bits of sf_ctype[c]. */
enum {
    SF_C_TCHAR = 1,   /* RFC 9110 §5.6.2 tchar */
    SF_C_VALUE = 2,   /* field-value byte: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5) */
    SF_C_VCHAR = 4,   /* 0x21-0x7E */
    SF_C_HEX = 8,     /* HEXDIG */
    SF_C_REGNAME = 16, /* reg-name byte per docs/core.md: A-Za-z0-9-._~!$&'()*+,;=% */
    SF_C_DIGIT = 32,  /* DIGIT */
    SF_C_IPLIT = 64   /* inside an IP-literal per docs/core.md: HEXDIG ":" "." "v" */
};

static const unsigned char sf_ctype[256] = {
      0,   0,   0,   0,   0,   0,   0,   0,   0,   2,   0,   0,   0,   0,   0,   0,
      0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
      2,  23,   6,   7,  23,  23,  23,  23,  22,  22,  23,  23,  22,  23,  87,   6,
    127, 127, 127, 127, 127, 127, 127, 127, 127, 127,  70,  22,   6,  22,   6,   6,
      6,  95,  95,  95,  95,  95,  95,  23,  23,  23,  23,  23,  23,  23,  23,  23,
     23,  23,  23,  23,  23,  23,  23,  23,  23,  23,  23,   6,   6,   6,   7,  23,
      7,  95,  95,  95,  95,  95,  95,  23,  23,  23,  23,  23,  23,  23,  23,  23,
     23,  23,  23,  23,  23,  23,  87,  23,  23,  23,  23,   6,   7,   6,  23,   0,
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,
      2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,   2,
};
static const unsigned char sf_hexval[256] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
};
static const unsigned char sf_lower[256] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F,
    0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x3B, 0x3C, 0x3D, 0x3E, 0x3F,
    0x40, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F,
    0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x6B, 0x6C, 0x6D, 0x6E, 0x6F,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F,
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F,
    0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F,
    0xA0, 0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC, 0xAD, 0xAE, 0xAF,
    0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF,
    0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF,
    0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF,
    0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xEB, 0xEC, 0xED, 0xEE, 0xEF,
    0xF0, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA, 0xFB, 0xFC, 0xFD, 0xFE, 0xFF,
};

#define SF_IS(c, cls) (sf_ctype[(unsigned char)(c)] & (cls))

/* Returns the first byte of [p, end) that is not a tchar, or end. */
static inline const char *sf_scan_token(const char *p, const char *end)
{
#ifdef SF_SIMD_SSE2
    /* Field names are almost always [A-Za-z0-9-]: skip 16 of those at a time, then let the
     * table judge the first other byte (a rarer tchar such as '_', or the end of the name). */
    const __m128i x20 = _mm_set1_epi8(0x20), a = _mm_set1_epi8('a'), z25 = _mm_set1_epi8(25);
    const __m128i d0 = _mm_set1_epi8('0'), d9 = _mm_set1_epi8(9), dash = _mm_set1_epi8('-');
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i al = _mm_sub_epi8(_mm_or_si128(v, x20), a);
        __m128i dg = _mm_sub_epi8(v, d0);
        __m128i ok = _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(al, z25), z25),
                                  _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(dg, d9), d9), _mm_cmpeq_epi8(v, dash)));
        unsigned m = (unsigned)_mm_movemask_epi8(ok) ^ 0xFFFFu;
        if (m != 0) {
            p += sf_ctz16(m);
            break;
        }
        p += 16;
    }
#endif
    while (p < end && SF_IS(*p, SF_C_TCHAR))
        ++p;
    return p;
}

#ifdef SF_SIMD_SSE2
/* Bit i set when byte i of v is not HTAB, SP, VCHAR or obs-text:
 * (c <= 0x1F && c != HTAB) || c == DEL; obs-text (>= 0x80) is fine. */
static inline unsigned sf_bad_value_mask(__m128i v)
{
    const __m128i c1f = _mm_set1_epi8(0x1F), tab = _mm_set1_epi8(0x09), del = _mm_set1_epi8(0x7F);
    __m128i ctl = _mm_cmpeq_epi8(_mm_max_epu8(v, c1f), c1f);
    __m128i bad = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl), _mm_cmpeq_epi8(v, del));
    return (unsigned)_mm_movemask_epi8(bad);
}
#endif

/* Returns the first byte of [p, end) that is not HTAB, SP, VCHAR or obs-text, or end.
 * `lo` <= p is the start of readable memory: the last block may be re-read from end - 16
 * (bytes before p are masked out), so short tails need no byte loop. */
static inline const char *sf_scan_value(const char *lo, const char *p, const char *end)
{
#ifdef SF_SIMD_SSE2
    while (end - p >= 16) {
        unsigned m = sf_bad_value_mask(_mm_loadu_si128((const __m128i *)(const void *)p));
        if (m != 0)
            return p + sf_ctz16(m);
        p += 16;
    }
    if (p < end && end - lo >= 16) {
        const char *b = end - 16;
        unsigned m = sf_bad_value_mask(_mm_loadu_si128((const __m128i *)(const void *)b));
        m &= ~((1u << (unsigned)(p - b)) - 1u); /* p - b is in 1..15 here */
        return m != 0 ? b + sf_ctz16(m) : end;
    }
#else
    (void)lo;
#endif
    while (p < end && SF_IS(*p, SF_C_VALUE))
        ++p;
    return p;
}

/* A cursor over [start, end) that finds the next byte that is not HTAB, SP, VCHAR or
 * obs-text (a CR, an LF, another control byte or DEL). With SSE2 it classifies 64 bytes at a
 * time into a bit mask and answers from the mask, so successive field lines find their CRs
 * without a scan whose length depends on the previous line: the lines' other checks can
 * overlap. Positions must be asked for in increasing order. */
typedef struct {
    const char *blk;  /* first byte of the classified block */
    const char *end;
    uint64_t mask;    /* bit i: blk[i] is such a byte (only bits for bytes before end) */
} sf_ctl_cursor;

#ifdef SF_SIMD_SSE2
static inline uint64_t sf_ctl_block(const char *b, const char *end)
{
    if (likely(end - b >= 64)) {
        return (uint64_t)sf_bad_value_mask(_mm_loadu_si128((const __m128i *)(const void *)b))
               | (uint64_t)sf_bad_value_mask(_mm_loadu_si128((const __m128i *)(const void *)(b + 16))) << 16
               | (uint64_t)sf_bad_value_mask(_mm_loadu_si128((const __m128i *)(const void *)(b + 32))) << 32
               | (uint64_t)sf_bad_value_mask(_mm_loadu_si128((const __m128i *)(const void *)(b + 48))) << 48;
    } else {
        /* The tail: classify a copy padded with a value byte (no bits past end). */
        char tmp[64];
        size_t len = (size_t)(end - b);
        uint64_t m;
        memset(tmp, 'x', sizeof tmp);
        memcpy(tmp, b, len);
        m = (uint64_t)sf_bad_value_mask(_mm_loadu_si128((const __m128i *)(const void *)tmp))
            | (uint64_t)sf_bad_value_mask(_mm_loadu_si128((const __m128i *)(const void *)(tmp + 16))) << 16
            | (uint64_t)sf_bad_value_mask(_mm_loadu_si128((const __m128i *)(const void *)(tmp + 32))) << 32
            | (uint64_t)sf_bad_value_mask(_mm_loadu_si128((const __m128i *)(const void *)(tmp + 48))) << 48;
        return m;
    }
}
#endif

/* Starts a cursor at `start` (< end or == end). */
static inline void sf_ctl_init(sf_ctl_cursor *c, const char *start, const char *end)
{
    c->blk = start;
    c->end = end;
#ifdef SF_SIMD_SSE2
    c->mask = start < end ? sf_ctl_block(start, end) : 0;
#else
    c->mask = 0;
#endif
}

/* Returns the first byte of [p, end) that is not HTAB, SP, VCHAR or obs-text, or end;
 * p >= every position asked before. */
static inline const char *sf_ctl_next(sf_ctl_cursor *c, const char *p)
{
#ifdef SF_SIMD_SSE2
    /* A position before the classified block (asked after a later answer) has only value
     * bytes up to the block: the blocks before it were left when they had none. */
    if (unlikely(p < c->blk))
        p = c->blk;
    for (;;) {
        size_t off = (size_t)(p - c->blk);
        if (likely(off < 64)) {
            uint64_t m = c->mask & (~(uint64_t)0 << off);
            if (likely(m != 0))
                return c->blk + sf_ctz64(m);
        }
        if (c->end - c->blk <= 64)
            return c->end;
        c->blk += 64;
        if (p < c->blk)
            p = c->blk;
        c->mask = sf_ctl_block(c->blk, c->end);
    }
#else
    const char *end = c->end;
    while (p < end && SF_IS(*p, SF_C_VALUE))
        ++p;
    return p;
#endif
}

/* Returns the first byte of [p, end) that is not VCHAR (0x21-0x7E), or end. */
static inline const char *sf_scan_vchar(const char *p, const char *end)
{
#ifdef SF_SIMD_SSE2
    /* c - 0x21 (wrapping) must be < 0x5E unsigned: bad when max(c - 0x21, 0x5D) != 0x5D. */
    const __m128i off = _mm_set1_epi8(0x21), lim = _mm_set1_epi8(0x5D);
    while (end - p >= 16) {
        __m128i v = _mm_sub_epi8(_mm_loadu_si128((const __m128i *)(const void *)p), off);
        __m128i ok = _mm_cmpeq_epi8(_mm_max_epu8(v, lim), lim);
        unsigned m = (unsigned)_mm_movemask_epi8(ok) ^ 0xFFFFu;
        if (m != 0)
            return p + sf_ctz16(m);
        p += 16;
    }
#endif
    while (p < end && SF_IS(*p, SF_C_VCHAR))
        ++p;
    return p;
}

/* Returns the first byte of [p, end) that is not SP or HTAB, or end. */
static inline const char *sf_skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        ++p;
    return p;
}

/* Returns the end of [p, end) with trailing SP/HTAB removed (never before p). */
static inline const char *sf_rstrip_ows(const char *p, const char *end)
{
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        --end;
    return end;
}

/* Returns a pointer to the first LF in [p, end), or NULL. */
static inline const char *sf_find_lf(const char *p, const char *end)
{
    if (p >= end)
        return NULL;
    return (const char *)memchr(p, '\n', (size_t)(end - p));
}

/* Returns the number of leading HEXDIG bytes of [p, p + n), counting at most `cap`. */
static inline size_t sf_count_hex(const char *p, size_t n, size_t cap)
{
    size_t i = 0, lim = n < cap ? n : cap;
    while (i < lim && SF_IS(p[i], SF_C_HEX))
        ++i;
    return i;
}

/* Parses exactly n (1..16) HEXDIG into *out; returns SF_OK, or SF_E_INVALID if n is out of
 * range, a byte is not HEXDIG, or the value is >= 2**63. */
static inline int sf_parse_hex(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    if (unlikely(n == 0 || n > 16))
        return SF_E_INVALID;
    for (i = 0; i < n; ++i) {
        unsigned d = sf_hexval[(unsigned char)p[i]];
        if (d > 15)
            return SF_E_INVALID;
        v = (v << 4) | d; /* 16 digits fit in 64 bits: no overflow possible */
    }
    if (v >> 63)
        return SF_E_INVALID;
    *out = v;
    return SF_OK;
}

/* Parses exactly n (1..18) DIGIT into *out; returns SF_OK or SF_E_INVALID (18 digits < 2**63). */
static inline int sf_parse_dec(const char *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;
    if (n == 0 || n > 18)
        return SF_E_INVALID;
    for (i = 0; i < n; ++i) {
        unsigned d = (unsigned)((unsigned char)p[i] - '0');
        if (d > 9)
            return SF_E_INVALID;
        v = v * 10 + d;
    }
    *out = v;
    return SF_OK;
}

/* Returns 1 when [p, p + n) equals the lower-case ASCII `lit` (length ln) ignoring ASCII case. */
static inline int sf_ieq(const char *p, size_t n, const char *lit, size_t ln)
{
    size_t i;
    if (n != ln)
        return 0;
    for (i = 0; i < n; ++i)
        if (sf_lower[(unsigned char)p[i]] != (unsigned char)lit[i])
            return 0;
    return 1;
}

/* Copies n bytes from src to dst, lower-casing ASCII letters. */
static inline void sf_lower_copy(char *dst, const char *src, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i)
        dst[i] = (char)sf_lower[(unsigned char)src[i]];
}

/* Returns 1 when [p, p + n) contains a '%' byte. */
static inline int sf_has_pct(const char *p, size_t n)
{
    return n != 0 && memchr(p, '%', n) != NULL;
}

/* Percent-decodes [src, src + n) into dst (room for n bytes); "%" not followed by two HEXDIG
 * is copied as is (urllib.parse.unquote_to_bytes). Returns the decoded length. */
static inline size_t sf_pct_decode(char *dst, const char *src, size_t n)
{
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned char c = (unsigned char)src[i];
        if (c == '%' && n - i >= 3) {
            unsigned hi = sf_hexval[(unsigned char)src[i + 1]];
            unsigned lo = sf_hexval[(unsigned char)src[i + 2]];
            if (hi < 16 && lo < 16) {
                dst[o++] = (char)((hi << 4) | lo);
                i += 3;
                continue;
            }
        }
        dst[o++] = (char)c;
        ++i;
    }
    return o;
}

/* Returns 1 when [p, p + n) is `uri-host [":" port]` as docs/core.md defines it (RFC 9112 §3.2):
 * reg-name bytes or "[" 1*IP-literal bytes "]", then ":" *DIGIT, which is optional unless
 * `need_port` (authority-form, RFC 9112 §3.2.3). An empty Host value is valid. */
static inline int sf_valid_host(const char *p, size_t n, int need_port)
{
    const char *end = p + n;
    if (p < end && *p == '[') {
        const char *start = ++p;
        while (p < end && SF_IS(*p, SF_C_IPLIT))
            ++p;
        if (p == start || p == end || *p != ']')
            return 0;
        ++p;
    } else {
        while (p < end && SF_IS(*p, SF_C_REGNAME))
            ++p;
    }
    if (p == end)
        return !need_port;
    if (*p != ':')
        return 0;
    for (++p; p < end; ++p)
        if (!SF_IS(*p, SF_C_DIGIT))
            return 0;
    return 1;
}

/* Well-known header names, lower case; SF_H_* is the index (headers.pxi builds one bytes object
 * per name at import). The first six drive framing and connection handling (docs/core.md step 3).
 * Keep sf_header_len and sf_header_slot (below) in step with this list. */
enum { SF_H_HOST, SF_H_CONTENT_LENGTH, SF_H_TRANSFER_ENCODING, SF_H_CONNECTION, SF_H_EXPECT, SF_H_UPGRADE };
#define SF_H_COUNT 58
#define SF_H_MAXLEN 30
/* The parser keeps one bit per SF_H_* id in a uint64_t (sf_seen.bits, headers.pxi). */
typedef char sf_h_count_fits_64[SF_H_COUNT <= 64 ? 1 : -1];
static const char *const sf_header_names[SF_H_COUNT] = {
    "host", "content-length", "transfer-encoding", "connection", "expect", "upgrade", "user-agent",
    "accept", "accept-encoding", "accept-language", "accept-charset", "cookie", "content-type",
    "content-encoding", "referer", "origin", "upgrade-insecure-requests", "cache-control", "pragma",
    "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest", "sec-fetch-user", "sec-ch-ua",
    "sec-ch-ua-mobile", "sec-ch-ua-platform", "authorization", "if-none-match", "if-modified-since",
    "if-match", "if-unmodified-since", "if-range", "range", "x-forwarded-for", "x-forwarded-proto",
    "x-forwarded-host", "x-real-ip", "x-request-id", "x-requested-with", "forwarded", "via", "dnt",
    "te", "trailer", "keep-alive", "priority", "date", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "sec-websocket-protocol", "sec-gpc", "purpose", "content-md5",
    "content-language", "access-control-request-method", "access-control-request-headers",
    "save-data",
};
/* Lengths of sf_header_names. */
static const unsigned char sf_header_len[SF_H_COUNT] = {
    4, 14, 17, 10, 6, 7, 10, 6, 15, 15, 14, 6, 12, 16, 7, 6, 25, 13, 6, 14,
    14, 14, 14, 9, 16, 18, 13, 13, 17, 8, 19, 8, 5, 15, 17, 16, 9, 12, 16, 9,
    3, 3, 2, 7, 10, 8, 4, 17, 21, 24, 22, 7, 7, 11, 16, 29, 30, 9,
};
/* Perfect hash of the names: slot = SF_HEADER_HASH(n | c0 << 8 | c[n-2] << 16 | c[n-1] << 24),
 * the three bytes OR 0x20; value = SF_H_* index or -1. Generated with the multiplier below
 * (random search for one that sends the 58 names to distinct slots); regenerate both when
 * the list changes. */
#define SF_HEADER_HASH(x) ((unsigned)(((uint32_t)(x) * 0x98724477u) >> 25))
static const signed char sf_header_slot[128] = {
    -1, 13, -1, 45, -1, -1,  4, 14, 36, 23,  5, -1, -1, 56, -1, 53,
    31, -1, -1, -1, -1, -1, 33, -1, -1,  2, 25, 54, 44, -1, 12, -1,
    -1, -1, -1, 37, -1, -1, -1, 34, -1, 50, 15, -1, 21, 32, 20, -1,
    -1, 39, -1, -1, -1, 28, 27, -1, -1, 29, 38, -1, 51,  0, -1, 49,
    -1, -1,  6,  8, -1, -1, -1, -1, 10, -1, -1, 16, -1, 30, -1, -1,
    40, 19, -1, 48, -1, 22, -1, -1, 24, -1, -1, 47,  9, -1, 55,  7,
    -1, 41, 35, -1, -1, 11, 57, 18, 17, -1, -1, -1, -1, 26, 52, -1,
    -1, -1,  1, -1, -1, -1, -1, -1, 42, 43, -1,  3, -1, -1, 46, -1,
};

/* Loads 8, 4 or 2 bytes from an unaligned address. */
static inline uint64_t sf_load8(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline uint32_t sf_load4(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint16_t sf_load2(const char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Returns the SF_H_* index of the tchar name [p, p + n) (any case), or -1. */
static inline int sf_header_id(const char *p, size_t n)
{
    /* Names are validated tchar first, so OR-ing 0x20 folds exactly A-Z onto a-z here:
     * no other tchar lands on a lower-case letter, a digit or '-'. One hash probe picks the
     * only candidate; it is then compared in words that stay inside [p, p + n) (the last
     * words overlapping the previous ones). */
    const uint64_t fold = 0x2020202020202020ull;
    const char *lit;
    uint32_t key;
    int id;
    if (unlikely(n < 2 || n > SF_H_MAXLEN))
        return -1;
    key = (uint32_t)n | (((uint32_t)(unsigned char)p[0] | (uint32_t)(unsigned char)p[n - 2] << 8
                          | (uint32_t)(unsigned char)p[n - 1] << 16 | 0x202020u) << 8);
    id = sf_header_slot[SF_HEADER_HASH(key)];
    if (id < 0 || sf_header_len[id] != n)
        return -1;
    lit = sf_header_names[id];
    if (n >= 8) {
        /* Four words at 0, 8, 16 and n - 8, clamped to n - 8 (n <= 32): one branch for any
         * length. */
        size_t k1 = n - 8 < 8 ? n - 8 : 8, k2 = n - 8 < 16 ? n - 8 : 16, k3 = n - 8;
        uint64_t diff = ((sf_load8(p) | fold) ^ sf_load8(lit))
                        | ((sf_load8(p + k1) | fold) ^ sf_load8(lit + k1))
                        | ((sf_load8(p + k2) | fold) ^ sf_load8(lit + k2))
                        | ((sf_load8(p + k3) | fold) ^ sf_load8(lit + k3));
        return diff == 0 ? id : -1;
    }
    if (n >= 4)
        return ((sf_load4(p) | 0x20202020u) == sf_load4(lit)
                && (sf_load4(p + n - 4) | 0x20202020u) == sf_load4(lit + n - 4)) ? id : -1;
    return ((sf_load2(p) | 0x2020u) == sf_load2(lit)
            && (sf_load2(p + n - 2) | 0x2020u) == sf_load2(lit + n - 2)) ? id : -1;
}

/* The first position in [start, end) at which a request line is known to be bad: the index of a
 * byte that is neither SP nor VCHAR nor CR, or of the byte after a CR (end must be the index of
 * the line's first LF, or of the end of the buffered bytes, so a CR at end - 1 still waits).
 * Returns -1 if there is none. */
static inline ptrdiff_t sf_request_line_bad(const char *d, ptrdiff_t start, ptrdiff_t end)
{
    ptrdiff_t i;
    for (i = start; i < end; ++i) {
        unsigned char c = (unsigned char)d[i];
        if (c == '\r') {
            if (i + 1 < end)
                return i + 1; /* no LF before end: the CR is bare */
        } else if (c < 0x20 || c > 0x7e) {
            return i;
        }
    }
    return -1;
}

/* Seconds since the epoch from CLOCK_REALTIME, or -1. Not time(): glibc may serve time() from
 * the coarse clock, which trails the clock Python's time.time() reads by up to a tick, and the
 * two twins must agree on the Date line. */
static inline long long sf_unix_seconds(void)
{
#if defined(_WIN32)
    return (long long)_time64(NULL);
#else
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return -1;
    return (long long)ts.tv_sec;
#endif
}

/* Break `seconds` down as UTC into *out; returns 0, or -1 if out of range. gmtime_r/_gmtime64_s,
 * not gmtime, whose static buffer every thread shares. */
static inline int sf_gmtime(long long seconds, struct tm *out)
{
#if defined(_WIN32)
    __time64_t t = (__time64_t)seconds;
    return _gmtime64_s(out, &t) == 0 ? 0 : -1;
#else
    time_t t = (time_t)seconds;
    return gmtime_r(&t, out) != NULL ? 0 : -1;
#endif
}

#undef SF_IS
#undef SF_HEADER_HASH
#ifdef SF_OWN_LIKELY
#undef SF_OWN_LIKELY
#undef likely
#undef unlikely
#endif
#ifdef SF_SIMD_SSE2
#undef SF_SIMD_SSE2
#if !(defined(_MSC_VER) && !defined(__clang__))
#undef sf_ctz16
#undef sf_ctz64
#endif
#endif

#endif /* SF_HELPERS_H */
