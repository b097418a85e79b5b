/* A compact, bounds-checked JSON reader for Aslan's C guests.
 *
 * json_parse() validates a whole text (RFC 8259; nesting at most
 * JSON_MAX_DEPTH deep) and splits it into tokens: each value is one token,
 * followed by its children in order (an object's children alternate key,
 * value). Tokens refer to the text, which must outlive the document; nothing
 * is copied until json_string() unescapes one. Every accessor takes a token
 * index, checks it, and answers -1/NULL/0 for a wrong index or type, so
 * lookups chain without checks in between.
 */
#ifndef ASLAN_JSON_H
#define ASLAN_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 256

typedef enum {
    JSON_OBJECT = 1,
    JSON_ARRAY,
    JSON_STRING,
    JSON_NUMBER,
    JSON_TRUE,
    JSON_FALSE,
    JSON_NULL,
} json_type;

typedef struct {
    json_type type;
    uint32_t start, end; /* the token's text: [start, end) (a string's without quotes) */
    uint32_t count;      /* children: an array's elements, an object's members */
    uint32_t next;       /* the index of the first token after this value and its children */
} json_tok;

typedef struct {
    const char *text;
    size_t len;
    json_tok *toks;
    uint32_t n, cap;
} json_doc;

/* Parses `len` bytes of `text`. 0 when it is one JSON value (with
 * whitespace around it), -1 when it is not or memory runs out. The root is
 * token 0. json_free() releases the tokens either way. */
int json_parse(json_doc *doc, const char *text, size_t len);
void json_free(json_doc *doc);

/* The type of token `t`, or 0 for an index out of range. */
json_type json_typeof(const json_doc *doc, int t);

/* The value of the member `key` (UTF-8, compared after unescaping) of object
 * `obj`: the last one if the key repeats, as JavaScript and Python take it.
 * -1 when `obj` is not an object or has no such member. */
int json_get(const json_doc *doc, int obj, const char *key);

/* json_get() along a path of keys ending with NULL. */
int json_path(const json_doc *doc, int t, ...);

/* The number of elements of array `arr` (0 if it is not an array), its first
 * element (-1 if none), and the element after element `t` of it. */
uint32_t json_len(const json_doc *doc, int arr);
int json_first(const json_doc *doc, int arr);
int json_after(const json_doc *doc, int t);

/* The unescaped UTF-8 of string token `t`, NUL-terminated and malloc'd (the
 * caller frees it); `*len` (if not NULL) gets its length, which counts any
 * escaped NULs. NULL when `t` is not a string or memory runs out. */
char *json_string(const json_doc *doc, int t, size_t *len);

/* 1 when `t` is a string equal to the NUL-terminated `s` once unescaped. */
int json_string_is(const json_doc *doc, int t, const char *s);

/* The value of number token `t` in `*out`: 0, or -1 if it is not a number. */
int json_number(const json_doc *doc, int t, double *out);

/* The raw text of token `t` (a string's without its quotes). */
const char *json_raw(const json_doc *doc, int t, size_t *len);

#endif
