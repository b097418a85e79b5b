/* Dumps each hex-encoded line of stdin as json.c reads it (for json-fuzz.py). */
#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void dump(json_doc *d, int t) {
    switch (json_typeof(d, t)) {
    case JSON_OBJECT: {
        printf("{");
        int k = t + 1;
        for (uint32_t i = 0; i < d->toks[t].count; i++) {
            size_t n; char *s = json_string(d, k, &n);
            printf("%sK", i ? "," : ""); for (size_t j = 0; j < n; j++) printf("%02x", (unsigned char)s[j]); free(s);
            printf(":"); dump(d, k + 1); k = json_after(d, k + 1);
        }
        printf("}"); break; }
    case JSON_ARRAY: {
        printf("[");
        int e = json_first(d, t);
        for (uint32_t i = 0; i < json_len(d, t); i++) { if (i) printf(","); dump(d, e); e = json_after(d, e); }
        printf("]"); break; }
    case JSON_STRING: { size_t n; char *s = json_string(d, t, &n); printf("S"); for (size_t j = 0; j < n; j++) printf("%02x", (unsigned char)s[j]); free(s); break; }
    case JSON_NUMBER: { double v; json_number(d, t, &v); printf("N%.17g", v); break; }
    case JSON_TRUE: printf("T"); break;
    case JSON_FALSE: printf("F"); break;
    case JSON_NULL: printf("Z"); break;
    default: printf("?"); }
}
int main(void) {
    static char line[1 << 20];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = strlen(line); if (n && line[n-1] == '\n') line[--n] = 0;
        /* unhex */
        char *buf = malloc(n / 2 + 1); for (size_t i = 0; i < n / 2; i++) { unsigned x; sscanf(line + 2*i, "%2x", &x); buf[i] = (char)x; }
        json_doc d;
        if (json_parse(&d, buf, n / 2)) printf("INVALID"); else dump(&d, 0);
        printf("\n"); json_free(&d); free(buf);
    }
}
