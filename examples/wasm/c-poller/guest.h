/* Small helpers that Aslan's C guests share: a growable byte buffer (whose
 * bytes end up in strings the component returns, so they are malloc'd),
 * and FNV-1a. No stdio: the guests import no WASI. */
#ifndef ASLAN_GUEST_H
#define ASLAN_GUEST_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *p;
    size_t n, cap;
} buf;

static inline void buf_add(buf *b, const void *s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) abort();
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static inline void buf_str(buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static inline void buf_u32(buf *b, uint32_t v) {
    char d[10];
    int i = 10;
    do { d[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    buf_add(b, d + i, (size_t)(10 - i));
}

/* `s` as a JSON string literal. */
static inline void buf_json_string(buf *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    buf_add(b, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { buf_add(b, "\\", 1); buf_add(b, &s[i], 1); }
        else if (c < 0x20) { char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}; buf_add(b, e, 6); }
        else buf_add(b, &s[i], 1);
    }
    buf_add(b, "\"", 1);
}

/* 32-bit FNV-1a, continuing from `h` (start with 2166136261). */
static inline uint32_t fnv1a32(uint32_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
    return h;
}

#endif
