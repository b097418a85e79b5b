/* See json.h. */
#include "json.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    json_doc *doc;
    size_t pos;
} parser;

static void skip_ws(parser *p) {
    while (p->pos < p->doc->len) {
        char c = p->doc->text[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int peek(parser *p) {
    return p->pos < p->doc->len ? (unsigned char)p->doc->text[p->pos] : -1;
}

static int push(parser *p, json_type type, uint32_t start) {
    json_doc *d = p->doc;
    if (d->n == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 64;
        if (cap < d->cap) return -1;
        json_tok *t = realloc(d->toks, (size_t)cap * sizeof *t);
        if (!t) return -1;
        d->toks = t;
        d->cap = cap;
    }
    json_tok *t = &d->toks[d->n];
    t->type = type;
    t->start = t->end = start;
    t->count = 0;
    t->next = d->n + 1;
    return (int)d->n++;
}

static int hex4(const char *s, size_t avail, unsigned *out) {
    if (avail < 4) return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return -1;
    }
    *out = v;
    return 0;
}

static int parse_string(parser *p) {
    const char *s = p->doc->text;
    size_t len = p->doc->len;
    p->pos++; /* the opening quote */
    int t = push(p, JSON_STRING, (uint32_t)p->pos);
    if (t < 0) return -1;
    while (p->pos < len) {
        unsigned char c = (unsigned char)s[p->pos];
        if (c == '"') {
            p->doc->toks[t].end = (uint32_t)p->pos;
            p->pos++;
            return 0;
        }
        if (c < 0x20) return -1;
        if (c == '\\') {
            if (p->pos + 1 >= len) return -1;
            char e = s[p->pos + 1];
            unsigned u;
            if (e == 'u') {
                if (hex4(s + p->pos + 2, len - p->pos - 2, &u)) return -1;
                p->pos += 6;
            } else if (strchr("\"\\/bfnrt", e) && e) {
                p->pos += 2;
            } else {
                return -1;
            }
        } else {
            p->pos++;
        }
    }
    return -1;
}

static int digits(parser *p) {
    size_t from = p->pos;
    while (peek(p) >= '0' && peek(p) <= '9') p->pos++;
    return p->pos > from ? 0 : -1;
}

static int parse_number(parser *p) {
    int t = push(p, JSON_NUMBER, (uint32_t)p->pos);
    if (t < 0) return -1;
    if (peek(p) == '-') p->pos++;
    if (peek(p) == '0') p->pos++;
    else if (digits(p)) return -1;
    if (peek(p) == '.') {
        p->pos++;
        if (digits(p)) return -1;
    }
    if (peek(p) == 'e' || peek(p) == 'E') {
        p->pos++;
        if (peek(p) == '+' || peek(p) == '-') p->pos++;
        if (digits(p)) return -1;
    }
    p->doc->toks[t].end = (uint32_t)p->pos;
    return 0;
}

static int parse_literal(parser *p, const char *word, json_type type) {
    size_t n = strlen(word);
    if (p->doc->len - p->pos < n || memcmp(p->doc->text + p->pos, word, n)) return -1;
    int t = push(p, type, (uint32_t)p->pos);
    if (t < 0) return -1;
    p->pos += n;
    p->doc->toks[t].end = (uint32_t)p->pos;
    return 0;
}

static int parse_value(parser *p, int depth);

static int parse_container(parser *p, int depth, json_type type) {
    char close = type == JSON_OBJECT ? '}' : ']';
    int t = push(p, type, (uint32_t)p->pos);
    if (t < 0 || depth >= JSON_MAX_DEPTH) return -1;
    p->pos++;
    skip_ws(p);
    uint32_t count = 0;
    if (peek(p) == close) {
        p->pos++;
    } else {
        for (;;) {
            skip_ws(p);
            if (type == JSON_OBJECT) {
                if (peek(p) != '"' || parse_string(p)) return -1;
                skip_ws(p);
                if (peek(p) != ':') return -1;
                p->pos++;
            }
            if (parse_value(p, depth + 1)) return -1;
            count++;
            skip_ws(p);
            int c = peek(p);
            p->pos++;
            if (c == close) break;
            if (c != ',') return -1;
        }
    }
    json_tok *tok = &p->doc->toks[t];
    tok->count = count;
    tok->end = (uint32_t)p->pos;
    tok->next = p->doc->n;
    return 0;
}

static int parse_value(parser *p, int depth) {
    skip_ws(p);
    switch (peek(p)) {
    case '{': return parse_container(p, depth, JSON_OBJECT);
    case '[': return parse_container(p, depth, JSON_ARRAY);
    case '"': return parse_string(p);
    case 't': return parse_literal(p, "true", JSON_TRUE);
    case 'f': return parse_literal(p, "false", JSON_FALSE);
    case 'n': return parse_literal(p, "null", JSON_NULL);
    default:
        if (peek(p) == '-' || (peek(p) >= '0' && peek(p) <= '9')) return parse_number(p);
        return -1;
    }
}

int json_parse(json_doc *doc, const char *text, size_t len) {
    memset(doc, 0, sizeof *doc);
    if (len >= UINT32_MAX) return -1;
    doc->text = text;
    doc->len = len;
    parser p = {doc, 0};
    if (parse_value(&p, 0)) return -1;
    skip_ws(&p);
    return p.pos == len ? 0 : -1;
}

void json_free(json_doc *doc) {
    free(doc->toks);
    doc->toks = NULL;
    doc->n = doc->cap = 0;
}

json_type json_typeof(const json_doc *doc, int t) {
    return t >= 0 && (uint32_t)t < doc->n ? doc->toks[t].type : 0;
}

uint32_t json_len(const json_doc *doc, int arr) {
    return json_typeof(doc, arr) == JSON_ARRAY ? doc->toks[arr].count : 0;
}

int json_first(const json_doc *doc, int arr) {
    return json_len(doc, arr) ? arr + 1 : -1;
}

int json_after(const json_doc *doc, int t) {
    if (!json_typeof(doc, t)) return -1;
    return (int)doc->toks[t].next;
}

const char *json_raw(const json_doc *doc, int t, size_t *len) {
    if (!json_typeof(doc, t)) return NULL;
    if (len) *len = doc->toks[t].end - doc->toks[t].start;
    return doc->text + doc->toks[t].start;
}

/* Appends the UTF-8 of code point `u` at `out`; returns its length. */
static size_t put_utf8(char *out, unsigned u) {
    if (u < 0x80) { out[0] = (char)u; return 1; }
    if (u < 0x800) { out[0] = (char)(0xc0 | (u >> 6)); out[1] = (char)(0x80 | (u & 63)); return 2; }
    if (u < 0x10000) {
        out[0] = (char)(0xe0 | (u >> 12)); out[1] = (char)(0x80 | ((u >> 6) & 63));
        out[2] = (char)(0x80 | (u & 63));
        return 3;
    }
    out[0] = (char)(0xf0 | (u >> 18)); out[1] = (char)(0x80 | ((u >> 12) & 63));
    out[2] = (char)(0x80 | ((u >> 6) & 63)); out[3] = (char)(0x80 | (u & 63));
    return 4;
}

char *json_string(const json_doc *doc, int t, size_t *len) {
    if (json_typeof(doc, t) != JSON_STRING) return NULL;
    const char *s = doc->text + doc->toks[t].start;
    size_t n = doc->toks[t].end - doc->toks[t].start;
    /* Unescaping never lengthens: \uXXXX (6 bytes) gives at most 3, a
     * surrogate pair (12) gives 4. */
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] != '\\') { out[o++] = s[i++]; continue; }
        char e = s[i + 1]; /* the tokenizer checked every escape */
        i += 2;
        switch (e) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            unsigned u, lo;
            hex4(s + i, n - i, &u);
            i += 4;
            if (u >= 0xd800 && u <= 0xdbff && i + 6 <= n && s[i] == '\\' && s[i + 1] == 'u' &&
                !hex4(s + i + 2, n - i - 2, &lo) && lo >= 0xdc00 && lo <= 0xdfff) {
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
                i += 6;
            } else if (u >= 0xd800 && u <= 0xdfff) {
                u = 0xfffd; /* a lone surrogate */
            }
            o += put_utf8(out + o, u);
            break;
        }
        default: out[o++] = e; break; /* " \ / */
        }
    }
    out[o] = 0;
    if (len) *len = o;
    return out;
}

int json_string_is(const json_doc *doc, int t, const char *s) {
    if (json_typeof(doc, t) != JSON_STRING) return 0;
    size_t n = doc->toks[t].end - doc->toks[t].start;
    const char *raw = doc->text + doc->toks[t].start;
    size_t want = strlen(s);
    if (!memchr(raw, '\\', n)) return n == want && !memcmp(raw, s, n);
    size_t got;
    char *u = json_string(doc, t, &got);
    int eq = u && got == want && !memcmp(u, s, got);
    free(u);
    return eq;
}

int json_get(const json_doc *doc, int obj, const char *key) {
    if (json_typeof(doc, obj) != JSON_OBJECT) return -1;
    int found = -1;
    int k = obj + 1;
    for (uint32_t i = 0; i < doc->toks[obj].count; i++) {
        int v = k + 1;
        if (json_string_is(doc, k, key)) found = v;
        k = (int)doc->toks[v].next;
    }
    return found;
}

int json_path(const json_doc *doc, int t, ...) {
    va_list ap;
    va_start(ap, t);
    const char *key;
    while (t >= 0 && (key = va_arg(ap, const char *)) != NULL) t = json_get(doc, t, key);
    va_end(ap);
    return t;
}

int json_number(const json_doc *doc, int t, double *out) {
    if (json_typeof(doc, t) != JSON_NUMBER) return -1;
    size_t n = doc->toks[t].end - doc->toks[t].start;
    char small[64];
    char *buf = n < sizeof small ? small : malloc(n + 1);
    if (!buf) return -1;
    memcpy(buf, doc->text + doc->toks[t].start, n);
    buf[n] = 0;
    *out = strtod(buf, NULL);
    if (buf != small) free(buf);
    return 0;
}
