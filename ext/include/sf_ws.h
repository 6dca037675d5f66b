/*
 * sf_ws.h: the C half of sailfish's WebSocket frame layer (ext/ws/frames.pxi).
 *
 * Strategy: leaf routines that never touch Python. sf_ws_header judges one client frame
 * header against RFC 6455 §5.2 in the same fixed order as the pure twin (src/sailfish/ws/
 * frames.py), returning its length, 0 when more bytes are needed, or a negative SF_WS_E_*
 * code that frames.pxi maps to a close code. sf_ws_unmask XORs a payload with its masking
 * key, 16 bytes at a time with SSE2/NEON (32 with AVX2 when the compiler targets it), then a
 * machine word at a time, with a portable byte loop for the rest; sf_ws_unmask_text also
 * reports, in the same pass, whether any byte is not ASCII. sf_utf8_check validates
 * UTF-8 incrementally (the state carries over between calls, so a character may be split
 * across frames) and stops at the first byte no valid text can continue, with an ASCII fast
 * path. Portable C99 (gcc, clang, MSVC); local macros are #undef'd at the end.
 */
#ifndef SF_WS_H
#define SF_WS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(SF_NO_SIMD) && (defined(__SSE2__) || defined(_M_X64) || defined(_M_AMD64))
#define SF_WS_SSE2 1
#include <emmintrin.h>
#if defined(__AVX2__)
#define SF_WS_AVX2 1
#include <immintrin.h>
#endif
#elif !defined(SF_NO_SIMD) && (defined(__ARM_NEON) || defined(__ARM_NEON__))
#define SF_WS_NEON 1
#include <arm_neon.h>
#endif

/* What sf_ws_header found wrong; the order of the checks is the order of this list. */
enum {
    SF_WS_E_OPCODE = -1,          /* reserved opcode (§5.2) */
    SF_WS_E_RSV23 = -2,           /* RSV2 or RSV3 set: no extension we know defines them */
    SF_WS_E_RSV1 = -3,            /* RSV1 without permessage-deflate, or on the wrong frame */
    SF_WS_E_CTRL_FRAGMENTED = -4, /* control frame without FIN (§5.5) */
    SF_WS_E_CTRL_TOO_LONG = -5,   /* control frame payload > 125 (§5.5) */
    SF_WS_E_NO_MESSAGE = -6,      /* continuation frame with no message open (§5.4) */
    SF_WS_E_IN_MESSAGE = -7,      /* text/binary frame while a message is open (§5.4) */
    SF_WS_E_UNMASKED = -8,        /* client frame without MASK (§5.1) */
    SF_WS_E_LENGTH_TOP_BIT = -9,  /* 64-bit length with the most significant bit set */
    SF_WS_E_NON_MINIMAL = -10,    /* length not in the minimal number of bytes */
    SF_WS_E_TOO_BIG = -11         /* the message would exceed the size limit (1009) */
};

/* One frame header. */
typedef struct {
    unsigned opcode;
    int fin;
    int rsv1;
    uint64_t length;
    unsigned char mask[4];
} sf_ws_frame;

/* Judge the header at p[0..n): its length (6 to 14) with *f filled, 0 if incomplete, or an
 * SF_WS_E_* code. `deflate`: permessage-deflate was negotiated; `in_message`: a fragmented
 * message is open; `budget`: payload bytes the open (or next) message may still carry. */
static inline int sf_ws_header(const unsigned char *p, size_t n, int deflate, int in_message,
                               uint64_t budget, sf_ws_frame *f)
{
    unsigned b0, b1, opcode, head;
    uint64_t length;
    if (n < 2)
        return 0;
    b0 = p[0];
    b1 = p[1];
    opcode = b0 & 0x0F;
    if ((opcode > 0x2 && opcode < 0x8) || opcode > 0xA)
        return SF_WS_E_OPCODE;
    if (b0 & 0x30)
        return SF_WS_E_RSV23;
    if ((b0 & 0x40) && (!deflate || (opcode != 0x1 && opcode != 0x2)))
        return SF_WS_E_RSV1;
    length = b1 & 0x7F;
    if (opcode >= 0x8) {
        if (!(b0 & 0x80))
            return SF_WS_E_CTRL_FRAGMENTED;
        if (length > 125)
            return SF_WS_E_CTRL_TOO_LONG;
    } else if (opcode == 0x0) {
        if (!in_message)
            return SF_WS_E_NO_MESSAGE;
    } else if (in_message) {
        return SF_WS_E_IN_MESSAGE;
    }
    if (!(b1 & 0x80))
        return SF_WS_E_UNMASKED;
    head = 2;
    if (length == 126) {
        if (n < 4)
            return 0;
        length = ((uint64_t)p[2] << 8) | p[3];
        head = 4;
        if (length < 126)
            return SF_WS_E_NON_MINIMAL;
    } else if (length == 127) {
        unsigned i;
        if (n < 10)
            return 0;
        length = 0;
        for (i = 2; i < 10; i++)
            length = (length << 8) | p[i];
        head = 10;
        if (length >> 63)
            return SF_WS_E_LENGTH_TOP_BIT;
        if (length < 0x10000)
            return SF_WS_E_NON_MINIMAL;
    }
    if (opcode < 0x8 && length > budget)
        return SF_WS_E_TOO_BIG;
    if (n < head + 4)
        return 0;
    f->opcode = opcode;
    f->fin = (b0 & 0x80) != 0;
    f->rsv1 = (b0 & 0x40) != 0;
    f->length = length;
    memcpy(f->mask, p + head, 4);
    return (int)(head + 4);
}

/* dst[i] = src[i] ^ mask[(offset + i) % 4] for i < n; dst may be src (in place). With `high`
 * set, also ORs every output byte together and returns that OR's top bit (0x80 when some byte
 * is not ASCII, else 0): free next to the XOR, and it spares text its UTF-8 check when every
 * byte is ASCII. The compiler drops the OR from sf_ws_unmask, where `high` is 0. */
static inline unsigned sf_ws_unmask_impl(unsigned char *dst, const unsigned char *src, size_t n,
                                         const unsigned char mask[4], uint64_t offset,
                                         int high)
{
    unsigned char key[8];
    uint64_t word, acc = 0;
    size_t i = 0;
    unsigned k, tail = 0;
    for (k = 0; k < 8; k++)
        key[k] = mask[(offset + k) & 3];
    memcpy(&word, key, 8); /* the key in memory order: endianness does not matter */
#if defined(SF_WS_AVX2)
    if (n >= 32) {
        __m256i m = _mm256_set1_epi64x((long long)word);
        __m256i a = _mm256_setzero_si256();
        for (; i + 32 <= n; i += 32) {
            __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(src + i)), m);
            _mm256_storeu_si256((__m256i *)(dst + i), v);
            if (high)
                a = _mm256_or_si256(a, v);
        }
        if (high && _mm256_movemask_epi8(a))
            acc = 0x80;
    }
#endif
#if defined(SF_WS_SSE2)
    if (n - i >= 16) {
        __m128i m = _mm_set1_epi64x((long long)word);
        __m128i a = _mm_setzero_si128();
        for (; i + 16 <= n; i += 16) {
            __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(src + i)), m);
            _mm_storeu_si128((__m128i *)(dst + i), v);
            if (high)
                a = _mm_or_si128(a, v);
        }
        if (high && _mm_movemask_epi8(a))
            acc = 0x80;
    }
#elif defined(SF_WS_NEON)
    if (n - i >= 16) {
        uint8x16_t m = vreinterpretq_u8_u64(vdupq_n_u64(word));
        uint8x16_t a = vdupq_n_u8(0);
        for (; i + 16 <= n; i += 16) {
            uint8x16_t v = veorq_u8(vld1q_u8(src + i), m);
            vst1q_u8(dst + i, v);
            if (high)
                a = vorrq_u8(a, v);
        }
        if (high) {
            uint64_t t[2];
            vst1q_u8((uint8_t *)t, a);
            acc = t[0] | t[1];
        }
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, src + i, 8);
        v ^= word;
        memcpy(dst + i, &v, 8);
        if (high)
            acc |= v;
    }
    for (; i < n; i++) {
        dst[i] = src[i] ^ key[i & 7];
        if (high)
            tail |= dst[i];
    }
    if (!high)
        return 0;
    return ((acc & 0x8080808080808080ULL) || (tail & 0x80)) ? 0x80 : 0;
}

static inline void sf_ws_unmask(unsigned char *dst, const unsigned char *src, size_t n,
                                const unsigned char mask[4], uint64_t offset)
{
    (void)sf_ws_unmask_impl(dst, src, n, mask, offset, 0);
}

/* sf_ws_unmask for text: 0x80 when some unmasked byte is >= 0x80 (not ASCII), else 0. */
static inline unsigned sf_ws_unmask_text(unsigned char *dst, const unsigned char *src, size_t n,
                                         const unsigned char mask[4], uint64_t offset)
{
    return sf_ws_unmask_impl(dst, src, n, mask, offset, 1);
}

/* UTF-8 validation states: ACCEPT between characters, then what the next byte must be. The
 * ranges are RFC 3629 §4's UTF8-2/3/4 productions, which exclude overlong forms, surrogates
 * (ED A0-BF) and code points above U+10FFFF. */
enum {
    SF_U8_ACCEPT = 0,
    SF_U8_TAIL1 = 1, /* 80-BF, then done */
    SF_U8_TAIL2 = 2, /* 80-BF, then TAIL1 */
    SF_U8_TAIL3 = 3, /* 80-BF, then TAIL2 */
    SF_U8_E0 = 4,    /* A0-BF, then TAIL1 */
    SF_U8_ED = 5,    /* 80-9F, then TAIL1 */
    SF_U8_F0 = 6,    /* 90-BF, then TAIL2 */
    SF_U8_F4 = 7     /* 80-8F, then TAIL2 */
};

/* Validate p[0..n) continuing from *state: 0 (with *state updated; SF_U8_ACCEPT means no
 * character is left open) or -1 at the first byte that no valid UTF-8 can contain there. */
static inline int sf_utf8_check(uint32_t *state, const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    uint32_t s = *state;
    unsigned c;
    while (p < end) {
        if (s == SF_U8_ACCEPT) {
#if defined(SF_WS_SSE2)
            while (end - p >= 16) {
                __m128i v = _mm_loadu_si128((const __m128i *)p);
                if (_mm_movemask_epi8(v))
                    break;
                p += 16;
            }
#endif
            while (end - p >= 8) {
                uint64_t v;
                memcpy(&v, p, 8);
                if (v & 0x8080808080808080ULL)
                    break;
                p += 8;
            }
            while (p < end && *p < 0x80)
                p++;
            if (p == end)
                break;
            c = *p++;
            if (c < 0xC2)
                return -1; /* a continuation byte, or an overlong 2-byte lead C0/C1 */
            else if (c < 0xE0)
                s = SF_U8_TAIL1;
            else if (c == 0xE0)
                s = SF_U8_E0;
            else if (c == 0xED)
                s = SF_U8_ED;
            else if (c < 0xF0)
                s = SF_U8_TAIL2;
            else if (c == 0xF0)
                s = SF_U8_F0;
            else if (c < 0xF4)
                s = SF_U8_TAIL3;
            else if (c == 0xF4)
                s = SF_U8_F4;
            else
                return -1;
            continue;
        }
        c = *p++;
        switch (s) {
        case SF_U8_TAIL1:
        case SF_U8_TAIL2:
        case SF_U8_TAIL3:
            if ((c & 0xC0) != 0x80)
                return -1;
            s -= 1;
            break;
        case SF_U8_E0:
            if (c < 0xA0 || c > 0xBF)
                return -1;
            s = SF_U8_TAIL1;
            break;
        case SF_U8_ED:
            if (c < 0x80 || c > 0x9F)
                return -1;
            s = SF_U8_TAIL1;
            break;
        case SF_U8_F0:
            if (c < 0x90 || c > 0xBF)
                return -1;
            s = SF_U8_TAIL2;
            break;
        default: /* SF_U8_F4 */
            if (c < 0x80 || c > 0x8F)
                return -1;
            s = SF_U8_TAIL2;
            break;
        }
    }
    *state = s;
    return 0;
}

#ifdef SF_WS_SSE2
#undef SF_WS_SSE2
#endif
#ifdef SF_WS_AVX2
#undef SF_WS_AVX2
#endif
#ifdef SF_WS_NEON
#undef SF_WS_NEON
#endif

#endif /* SF_WS_H */
