/*
 * fuzz_ws.c: libFuzzer harness over the WebSocket frame layer's C helpers (ext/include/sf_ws.h).
 *
 * Strategy: the first input byte picks a helper and its settings, the rest is the untrusted
 * payload. Each helper is checked against a reference written here in another style:
 * sf_ws_header against RFC 6455 §5.2 read field by field, sf_ws_unmask(_text) against the byte
 * loop `dst[i] = src[i] ^ mask[(offset + i) % 4]` (separate and in-place buffers), and
 * sf_utf8_check against a decoder that asks whether the open character can still become a
 * valid code point (RFC 3629 ranges, arithmetically), fed whole and then split at every point.
 * Spans live in heap blocks of exactly their length, so ASan sees any read past them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sf_ws.h"

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "fuzz_ws: %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                    \
        }                                                                               \
    } while (0)

/* -- frame header ------------------------------------------------------------------------------ */

/* RFC 6455 §5.2, checks in the order sf_ws.h documents (its enum order). */
static int ref_header(const unsigned char *p, size_t n, int deflate, int in_message,
                      uint64_t budget, sf_ws_frame *f)
{
    int fin, rsv1, rsv2, rsv3, masked, control;
    unsigned opcode, len7;
    size_t head, i;
    uint64_t length;
    if (n < 2)
        return 0;
    fin = p[0] >> 7;
    rsv1 = (p[0] >> 6) & 1;
    rsv2 = (p[0] >> 5) & 1;
    rsv3 = (p[0] >> 4) & 1;
    opcode = p[0] % 16;
    masked = p[1] >> 7;
    len7 = p[1] % 128;
    /* 0 continuation, 1 text, 2 binary, 8 close, 9 ping, 10 pong; the rest are reserved. */
    if (!(opcode <= 2 || (opcode >= 8 && opcode <= 10)))
        return SF_WS_E_OPCODE;
    if (rsv2 || rsv3)
        return SF_WS_E_RSV23;
    /* RFC 7692 §6: RSV1 only on the first frame of a data message, with deflate negotiated. */
    if (rsv1 && !(deflate && (opcode == 1 || opcode == 2)))
        return SF_WS_E_RSV1;
    control = opcode >= 8;
    if (control && !fin)
        return SF_WS_E_CTRL_FRAGMENTED;
    if (control && len7 > 125)
        return SF_WS_E_CTRL_TOO_LONG;
    if (opcode == 0 && !in_message)
        return SF_WS_E_NO_MESSAGE;
    if ((opcode == 1 || opcode == 2) && in_message)
        return SF_WS_E_IN_MESSAGE;
    if (!masked)
        return SF_WS_E_UNMASKED;
    if (len7 < 126) {
        head = 2;
        length = len7;
    } else if (len7 == 126) {
        if (n < 4)
            return 0;
        head = 4;
        length = (uint64_t)p[2] * 256 + p[3];
        if (length <= 125)
            return SF_WS_E_NON_MINIMAL;
    } else {
        if (n < 10)
            return 0;
        head = 10;
        if (p[2] & 0x80)
            return SF_WS_E_LENGTH_TOP_BIT;
        length = 0;
        for (i = 2; i < 10; i++)
            length = length * 256 + p[i];
        if (length <= 0xFFFF)
            return SF_WS_E_NON_MINIMAL;
    }
    if (!control && length > budget)
        return SF_WS_E_TOO_BIG;
    if (n < head + 4)
        return 0;
    f->opcode = opcode;
    f->fin = fin;
    f->rsv1 = rsv1;
    f->length = length;
    for (i = 0; i < 4; i++)
        f->mask[i] = p[head + i];
    return (int)(head + 4);
}

static void check_header(const unsigned char *d, size_t n, unsigned sel, const unsigned char *b)
{
    sf_ws_frame got, want;
    size_t k;
    int deflate = (sel >> 3) & 1, in_message = (sel >> 4) & 1;
    /* Budgets around the interesting lengths: 125, 126, 0xFFFF, 0x10000, 2**63. */
    static const uint64_t budgets[8] = {0, 125, 126, 0xFFFF, 0x10000, 16777216,
                                        ((uint64_t)1 << 63) - 1, ~(uint64_t)0};
    uint64_t budget = budgets[(sel >> 5) & 7];
    (void)b;
    /* Every prefix: the verdict of a prefix must be "need more" (0) or the final one. */
    for (k = 0; k <= n && k <= 16; k++) {
        int r, w;
        unsigned char *p = malloc(k ? k : 1);
        CHECK(p != NULL);
        memcpy(p, d, k);
        memset(&got, 0, sizeof got);
        memset(&want, 0, sizeof want);
        r = sf_ws_header(p, k, deflate, in_message, budget, &got);
        w = ref_header(p, k, deflate, in_message, budget, &want);
        CHECK(r == w);
        if (r > 0)
            CHECK(got.opcode == want.opcode && got.fin == want.fin && got.rsv1 == want.rsv1
                  && got.length == want.length && memcmp(got.mask, want.mask, 4) == 0);
        free(p);
    }
}

/* -- unmasking ------------------------------------------------------------------------------- */

static void check_unmask(const unsigned char *d, size_t n, const unsigned char *mask,
                         uint64_t offset)
{
    unsigned char *src = malloc(n ? n : 1), *dst = malloc(n ? n : 1), *want = malloc(n ? n : 1);
    unsigned high = 0, got_high;
    size_t i;
    CHECK(src != NULL && dst != NULL && want != NULL);
    memcpy(src, d, n);
    for (i = 0; i < n; i++) {
        want[i] = d[i] ^ mask[(offset + i) % 4];
        high |= want[i];
    }
    high &= 0x80;
    sf_ws_unmask(dst, src, n, mask, offset);
    CHECK(n == 0 || memcmp(dst, want, n) == 0);
    memset(dst, 0xAA, n);
    got_high = sf_ws_unmask_text(dst, src, n, mask, offset);
    CHECK(got_high == high);
    CHECK(n == 0 || memcmp(dst, want, n) == 0);
    /* In place, as frames.pxi does into its own buffer. */
    sf_ws_unmask(src, src, n, mask, offset);
    CHECK(n == 0 || memcmp(src, want, n) == 0);
    memcpy(src, d, n);
    CHECK(sf_ws_unmask_text(src, src, n, mask, offset) == high);
    CHECK(n == 0 || memcmp(src, want, n) == 0);
    free(src);
    free(dst);
    free(want);
}

/* -- UTF-8 ------------------------------------------------------------------------------------ */

/* Can the open character (lead byte, `have` continuation bytes so far, their value `v`) still
 * become a valid code point? RFC 3629: 2 bytes U+0080-07FF, 3 bytes U+0800-FFFF less the
 * surrogates U+D800-DFFF, 4 bytes U+10000-10FFFF. */
static int ref_can_complete(unsigned len, unsigned have, uint32_t v)
{
    unsigned left = len - 1 - have;
    uint32_t lo = v << (6 * left), hi = lo | ((1u << (6 * left)) - 1u);
    uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    uint32_t max = len == 2 ? 0x7FF : len == 3 ? 0xFFFF : 0x10FFFF;
    if (lo < min)
        lo = min;
    if (hi > max)
        hi = max;
    if (lo > hi)
        return 0;
    /* Not all of what is left is a surrogate. */
    return !(lo >= 0xD800 && hi <= 0xDFFF);
}

/* The index of the first byte that no valid UTF-8 can have there, or -1; *open: a character
 * is left incomplete at the end. */
static long ref_utf8(const unsigned char *p, size_t n, int *open)
{
    size_t i = 0;
    *open = 0;
    while (i < n) {
        unsigned c = p[i], len, have;
        uint32_t v;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) {
            len = 2;
            v = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            v = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            v = c & 0x07;
        } else {
            return (long)i; /* a continuation byte, or F8-FF */
        }
        if (!ref_can_complete(len, 0, v))
            return (long)i;
        for (have = 0; have < len - 1; have++) {
            if (i + 1 + have >= n) {
                *open = 1;
                return -1;
            }
            c = p[i + 1 + have];
            if ((c & 0xC0) != 0x80)
                return (long)(i + 1 + have);
            v = (v << 6) | (c & 0x3F);
            if (!ref_can_complete(len, have + 1, v))
                return (long)(i + 1 + have);
        }
        i += len;
    }
    return -1;
}

static void check_utf8(const unsigned char *d, size_t n)
{
    int open;
    long bad = ref_utf8(d, n, &open);
    uint32_t state = SF_U8_ACCEPT;
    size_t cut;
    unsigned char *buf;
    int r = sf_utf8_check(&state, d, n);
    CHECK((r < 0) == (bad >= 0));
    if (r == 0)
        CHECK((state != SF_U8_ACCEPT) == open);
    /* Split in two at every point (and in three, the second cut taken from the data): the
     * piece holding the first bad byte fails, every piece before it passes, and the final
     * state of an all-good input is the same. Each piece is copied to an exact heap block.
     * Every point up to 128 bytes; past that about 128 points, so a long input stays cheap. */
    for (cut = 0; cut <= n; cut += 1 + n / 128) {
        size_t cuts[3] = {cut, cut + (n - cut) / 2, n}, at = 0, k;
        int failed = 0;
        state = SF_U8_ACCEPT;
        for (k = 0; k < 3 && !failed; k++) {
            size_t len = cuts[k] - at;
            buf = malloc(len ? len : 1);
            CHECK(buf != NULL);
            memcpy(buf, d + at, len);
            if (sf_utf8_check(&state, buf, len) < 0) {
                CHECK(bad >= (long)at && bad < (long)cuts[k]);
                failed = 1;
            } else {
                CHECK(bad < (long)at || bad >= (long)cuts[k]);
            }
            free(buf);
            at = cuts[k];
        }
        CHECK(failed == (bad >= 0));
        if (!failed)
            CHECK((state != SF_U8_ACCEPT) == open);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned sel;
    unsigned char *d, mask[4];
    size_t n;
    if (size < 1)
        return 0;
    sel = data[0];
    switch (sel % 3) {
    case 0:
        n = size - 1;
        d = malloc(n ? n : 1);
        CHECK(d != NULL);
        memcpy(d, data + 1, n);
        check_header(d, n, sel, data);
        free(d);
        break;
    case 1:
        /* sel, 4 mask bytes, then the payload; the offset into the mask from sel. */
        if (size < 5)
            return 0;
        memcpy(mask, data + 1, 4);
        n = size - 5;
        /* Offsets near 2**62 too: the key rotation must not depend on the offset's size. */
        check_unmask(data + 5, n, mask,
                     (uint64_t)(sel >> 2) + ((sel & 0x80) ? (uint64_t)1 << 62 : 0));
        break;
    default:
        n = size - 1;
        d = malloc(n ? n : 1);
        CHECK(d != NULL);
        memcpy(d, data + 1, n);
        check_utf8(d, n);
        free(d);
        break;
    }
    return 0;
}
