/* Native fast path for Events-era lines (2015 on): one pass per line, straight into Arrow buffers.
 *
 * Why: the pure-Python mapper (eras.py) costs ~20 us per event, mostly in orjson.loads/dumps and
 * dict walking; a modern hour has 200k+ events. This module parses each line once, re-emits the
 * payload byte for byte as `orjson.dumps(orjson.loads(...))` would (compact, keys in order, UTF-8
 * raw, orjson's escapes), hashes the e-mail fields and scrubs free text exactly as pii.py does,
 * computes the curated columns as curated.py does, and appends every column to Arrow buffers.
 *
 * Contract: a line is taken only when the result is provably what eras.EventMapper.map gives;
 * anything else (other eras, floats, huge ints, duplicate keys, lone surrogates, invalid JSON or
 * UTF-8, unusual timestamps, extra top-level fields, a typed field of the wrong JSON type, an '@' or
 * `%40` in a column value, a quoted or `%40` address in the payload, ...) is handed back as a
 * "fallback" index and the Python mapper decides (row or reject). tests/test_normalize_native.py checks the equivalence
 * on every real file and on edge cases. The GIL is released while lines are mapped.
 *
 * map_lines(list[bytes-like], first=INT64_MIN, last=INT64_MAX) -> (rows, columns, fallback, row_offsets, lines)
 *   each item holds one or more lines separated by '\n'; line offsets count across items;
 *   a created_at outside [first, last] (microseconds) is given back (Python rejects it)
 *   columns: per output column (see COLUMNS) a tuple (validity bitmap or None, values[, data])
 *   fallback: (offset, line bytes) of non-blank lines not taken; row_offsets: int64 offsets of the
 *   rows taken;
 *   lines: non-blank lines seen.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Output columns: the enum C_<NAME>, NCOLS, KINDS and COLUMN_NAMES, generated from schema.py. */
#include "_fastpath_columns.h"

/* ---- growable byte buffer ------------------------------------------------------------------ */
typedef struct {
    unsigned char *data;
    size_t len, cap;
} Buf;

static int buf_grow(Buf *b, size_t extra) {
    size_t need = b->len + extra;
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    unsigned char *d = realloc(b->data, cap);
    if (!d) return -1;
    b->data = d;
    b->cap = cap;
    return 0;
}

#define BUF_RESERVE(b, n) \
    do { if ((b)->len + (n) > (b)->cap && buf_grow((b), (n))) return -1; } while (0)

static inline int buf_put(Buf *b, const void *s, size_t n) {
    if (!n) return 0; /* memcpy on a not yet allocated buffer is undefined even for 0 bytes */
    BUF_RESERVE(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

static inline int buf_putc(Buf *b, unsigned char c) {
    BUF_RESERVE(b, 1);
    b->data[b->len++] = c;
    return 0;
}

static void buf_free(Buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* ---- SHA-1 (for e-mail local parts; FIPS 180-1) ------------------------------------------ */
typedef struct {
    uint32_t h[5];
    uint64_t length;
    unsigned char block[64];
    size_t used;
} Sha1;

#define ROL(v, n) (((v) << (n)) | ((v) >> (32 - (n))))

static void sha1_block(Sha1 *s, const unsigned char *p) {
    uint32_t w[80], a, b, c, d, e, t;
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 80; i++) w[i] = ROL(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else f = b ^ c ^ d, k = 0xCA62C1D6;
        t = ROL(a, 5) + f + e + k + w[i];
        e = d, d = c, c = ROL(b, 30), b = a, a = t;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e;
}

static void sha1_hex(const unsigned char *data, size_t n, char out[40]) {
    static const char hex[] = "0123456789abcdef";
    Sha1 s = {{0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}, 0, {0}, 0};
    s.length = (uint64_t)n * 8;
    while (n >= 64) sha1_block(&s, data), data += 64, n -= 64;
    memcpy(s.block, data, n);
    s.block[n++] = 0x80;
    if (n > 56) {
        memset(s.block + n, 0, 64 - n);
        sha1_block(&s, s.block);
        n = 0;
    }
    memset(s.block + n, 0, 56 - n);
    for (int i = 0; i < 8; i++) s.block[56 + i] = (unsigned char)(s.length >> (56 - 8 * i));
    sha1_block(&s, s.block);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 8; j++) out[8 * i + j] = hex[(s.h[i] >> (28 - 4 * j)) & 0xF];
}

/* ---- character classes (as the regular expressions of pii.py) ----------------------------- */
static inline int is_alnum(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static inline int is_special(unsigned char c) { /* pii._SPECIALS: RFC 5322 atext beyond ._%+- */
    return c > 0x20 && c < 0x7F && strchr("!#$&'*/=?^`{|}~", c) != NULL;
}
static inline int is_local_end(unsigned char c) { /* [A-Za-z0-9._%+\-\x80-\xff]: ends a local part */
    return is_alnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c >= 0x80;
}
static inline int is_local_char(unsigned char c) { return is_local_end(c) || is_special(c); }
/* a domain letter: ASCII or any non-ASCII byte (an IDN as typed) */
static inline int is_letter(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80; }
static inline int is_label_char(unsigned char c) { return is_alnum(c) || c >= 0x80; }
static inline int is_hexdigit(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
/* pii._IP_LITERAL at d[p]: `[` (`IPv6:`)? hex digits, dots, colons (at least one) `]` */
static int ip_literal(const unsigned char *d, size_t n, size_t p) {
    if (p >= n || d[p] != '[') return 0;
    p++;
    if (n - p >= 5 && memcmp(d + p, "IPv6:", 5) == 0) p += 5;
    while (p < n && is_hexdigit(d[p])) p++;
    if (p >= n || (d[p] != '.' && d[p] != ':')) return 0;
    while (p < n && (is_hexdigit(d[p]) || d[p] == '.' || d[p] == ':')) p++;
    return p < n && d[p] == ']';
}

static inline int is_quoted_char(unsigned char c) { /* pii._QUOTED_CHAR */
    return is_alnum(c) || c >= 0x80 || (c > 0x20 && c < 0x7F && strchr("!#$%&'*+-/=?^_`{|}~.", c) != NULL);
}

static int is_hex40(const unsigned char *s, size_t n) { /* [0-9a-f]{40} */
    if (n != 40) return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return 0;
    return 1;
}

/* ---- eight bytes at a time ---------------------------------------------------------------------- */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline uint64_t load8(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline uint64_t zero_bytes(uint64_t w) { return (w - ONES) & ~w & HIGHS; }

/* High bit set for bytes that end a plain run inside a JSON string: '"', '\\', < 0x20, >= 0x80.
 * Only the LOWEST flagged byte is exact (borrows may flag bytes above it), which is all we use. */
static inline uint64_t string_stops(uint64_t w) {
    return (w & HIGHS) | ((w - 0x2020202020202020ULL) & ~w & HIGHS) | zero_bytes(w ^ 0x2222222222222222ULL) |
           zero_bytes(w ^ 0x5C5C5C5C5C5C5C5CULL);
}

/* Offset of the first byte of p[0..n) that is '"', '\\', < 0x20 or >= 0x80 (n when none). */
static inline size_t plain_run(const unsigned char *p, size_t n) {
    size_t i = 0;
#ifdef __SSE2__
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        /* signed compare: bytes >= 0x80 are negative, so one test finds controls and non-ASCII */
        __m128i stop = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                                    _mm_cmplt_epi8(v, space));
        int m = _mm_movemask_epi8(stop);
        if (m) return i + (size_t)__builtin_ctz((unsigned)m);
    }
#endif
    for (; i + 8 <= n; i += 8) {
        uint64_t m = string_stops(load8(p + i));
        if (m) return i + (size_t)(__builtin_ctzll(m) >> 3);
    }
    for (; i < n; i++)
        if (p[i] == '"' || p[i] == '\\' || p[i] < 0x20 || p[i] >= 0x80) return i;
    return n;
}

/* ---- JSON string escaping exactly as orjson.dumps ----------------------------------------- */
static int emit_escaped(Buf *out, const unsigned char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    BUF_RESERVE(out, n + 2);
    out->data[out->len++] = '"';
    size_t i = 0;
    while (i < n) {
        size_t run = i + plain_run(s + i, n - i);
        while (run < n && s[run] >= 0x80) run += 1 + plain_run(s + run + 1, n - run - 1); /* raw UTF-8 */
        if (buf_put(out, s + i, run - i)) return -1;
        if (run >= n) break;
        unsigned char c = s[run];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t len = 2;
        switch (c) {
            case '"': esc[1] = '"'; break;
            case '\\': esc[1] = '\\'; break;
            case '\b': esc[1] = 'b'; break;
            case '\t': esc[1] = 't'; break;
            case '\n': esc[1] = 'n'; break;
            case '\f': esc[1] = 'f'; break;
            case '\r': esc[1] = 'r'; break;
            default:
                esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
                len = 6;
        }
        if (buf_put(out, esc, len)) return -1;
        i = run + 1;
    }
    return buf_putc(out, '"');
}

/* ---- the per-line parser --------------------------------------------------------------------- */
enum { OK = 0, FAIL = -1, BAIL = -2 }; /* FAIL: out of memory (a Python error); BAIL: give the line back */
#define MAX_DEPTH 200

/* Output: a canonical line (compact, orjson's escapes) already IS orjson's output, so the payload is
 * built by copying source spans lazily; only what differs (whitespace between tokens, other escapes,
 * hashed e-mails) is written explicitly. `out == NULL` while reading the envelope: nothing is kept. */
typedef struct {
    const unsigned char *p, *end;
    Buf *out;                     /* where the current value's text goes, or NULL */
    const unsigned char *flushed; /* source bytes before this are already in *out (or replaced) */
    Buf scratch;                  /* decoded string values */
    Buf tmp;                      /* a hashed e-mail being built */
    uint64_t *keys;               /* key hashes of the objects being read (duplicate keys) */
    size_t nkeys, capkeys;
} Lexer;

/* Source bytes [flushed, upto) go to the output; what follows up to `resume` is replaced. */
static inline int flush_to(Lexer *L, const unsigned char *upto, const unsigned char *resume) {
    if (!L->out) return OK;
    if (buf_put(L->out, L->flushed, (size_t)(upto - L->flushed))) return FAIL;
    L->flushed = resume;
    return OK;
}

static inline int skip_ws(Lexer *L) {
    const unsigned char *p = L->p;
    while (p < L->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    if (p == L->p) return OK;
    const unsigned char *from = L->p;
    L->p = p;
    return flush_to(L, from, p); /* whitespace is dropped */
}

static int utf8_seq(const unsigned char *p, const unsigned char *end) {
    /* length of a valid UTF-8 sequence at p (non-ASCII), 0 if invalid (as orjson/Python decode) */
    unsigned char c = p[0];
    size_t left = (size_t)(end - p);
    if (c >= 0xC2 && c <= 0xDF) return (left >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (left < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if (c == 0xE0 && p[1] < 0xA0) return 0;  /* overlong */
        if (c == 0xED && p[1] >= 0xA0) return 0; /* surrogate */
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (left < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
        if (c == 0xF0 && p[1] < 0x90) return 0;
        if (c == 0xF4 && p[1] >= 0x90) return 0;
        return 4;
    }
    return 0;
}

static int hex4(const unsigned char *p, uint32_t *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        uint32_t d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return -1;
        *v = *v << 4 | d;
    }
    return 0;
}

static int put_utf8(Buf *b, uint32_t cp) {
    unsigned char u[4];
    size_t n;
    if (cp < 0x80) u[0] = (unsigned char)cp, n = 1;
    else if (cp < 0x800) u[0] = 0xC0 | (cp >> 6), u[1] = 0x80 | (cp & 63), n = 2;
    else if (cp < 0x10000) u[0] = 0xE0 | (cp >> 12), u[1] = 0x80 | ((cp >> 6) & 63), u[2] = 0x80 | (cp & 63), n = 3;
    else
        u[0] = 0xF0 | (cp >> 18), u[1] = 0x80 | ((cp >> 12) & 63), u[2] = 0x80 | ((cp >> 6) & 63),
        u[3] = 0x80 | (cp & 63), n = 4;
    return buf_put(b, u, n);
}

static inline int short_escape(unsigned char e) { /* escapes orjson writes as they are */
    return e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't';
}

/* Decode the string whose text (between the quotes) starts at `start`; L->p is at the first
 * backslash. The value goes to L->scratch; L->p ends after the closing quote. */
static int decode_string(Lexer *L, const unsigned char *start) {
    const unsigned char *p = L->p, *end = L->end;
    Buf *b = &L->scratch;
    b->len = 0;
    if (buf_put(b, start, (size_t)(p - start))) return FAIL;
    for (;;) {
        size_t run = plain_run(p, (size_t)(end - p));
        if (buf_put(b, p, run)) return FAIL;
        p += run;
        if (p >= end) return BAIL;
        unsigned char c = *p;
        if (c == '"') {
            L->p = p + 1;
            return OK;
        }
        if (c == '\\') {
            if (p + 1 >= end) return BAIL;
            unsigned char lit;
            switch (p[1]) {
                case '"': lit = '"'; break;
                case '\\': lit = '\\'; break;
                case '/': lit = '/'; break;
                case 'b': lit = '\b'; break;
                case 'f': lit = '\f'; break;
                case 'n': lit = '\n'; break;
                case 'r': lit = '\r'; break;
                case 't': lit = '\t'; break;
                case 'u': {
                    uint32_t cp, lo;
                    if (end - p < 6 || hex4(p + 2, &cp)) return BAIL;
                    p += 6;
                    if (cp >= 0xDC00 && cp <= 0xDFFF) return BAIL; /* lone low surrogate */
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo)) return BAIL;
                        if (lo < 0xDC00 || lo > 0xDFFF) return BAIL;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        p += 6;
                    }
                    if (put_utf8(b, cp)) return FAIL;
                    continue;
                }
                default: return BAIL;
            }
            if (buf_putc(b, lit)) return FAIL;
            p += 2;
            continue;
        }
        if (c < 0x20) return BAIL;
        int k = utf8_seq(p, end);
        if (!k) return BAIL;
        if (buf_put(b, p, (size_t)k)) return FAIL;
        p += k;
    }
}

/* A JSON string at L->p, validated and written to the output in orjson's form.
 * want_value: also return the decoded value in *s,*n (a slice of the line when it has no escapes,
 * else L->scratch, overwritten by the next string). Only strings whose escapes orjson would write
 * differently (\/, \u) are decoded and re-encoded; short escapes (\n, \") are kept as they are. */
static int read_string(Lexer *L, const unsigned char **s, size_t *n, int want_value) {
    const unsigned char *quote = L->p, *p = L->p + 1, *end = L->end, *start = p;
    int escaped = 0;
    for (;;) {
        p += plain_run(p, (size_t)(end - p));
        if (p >= end) return BAIL;
        unsigned char c = *p;
        if (c == '"') break;
        if (c == '\\') {
            if (p + 1 >= end) return BAIL;
            escaped = 1;
            if (short_escape(p[1])) {
                p += 2;
                continue;
            }
            L->p = memchr(start, '\\', (size_t)(p - start) + 1); /* decode from the first escape */
            goto reencode; /* \/ or \uXXXX: decode, then write orjson's form */
        }
        if (c < 0x20) return BAIL;
        int k = utf8_seq(p, end);
        if (!k) return BAIL;
        p += k;
    }
    L->p = p + 1;
    if (!want_value) return OK;
    if (!escaped) {
        *s = start, *n = (size_t)(p - start);
        return OK;
    }
    L->p = memchr(start, '\\', (size_t)(p - start)); /* short escapes only: decode for the value; */
    int rc = decode_string(L, start);                   /* the text stays as it is */
    if (rc) return rc;
    *s = L->scratch.data, *n = L->scratch.len;
    return OK;
reencode : {
    int rc = decode_string(L, start);
    if (rc) return rc;
    if (flush_to(L, quote, L->p)) return FAIL;
    if (L->out && emit_escaped(L->out, L->scratch.data, L->scratch.len)) return FAIL;
    *s = L->scratch.data, *n = L->scratch.len;
    return OK;
}
}

/* An integer as orjson keeps it (no fraction/exponent, not -0, at most 18 digits), else BAIL. */
static int read_int(Lexer *L, int64_t *v) {
    const unsigned char *p = L->p, *end = L->end;
    int neg = 0;
    if (p < end && *p == '-') neg = 1, p++;
    if (p >= end || *p < '0' || *p > '9') return BAIL;
    if (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9') return BAIL; /* leading zero */
    int64_t x = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (++digits > 18) return BAIL; /* checked before it could overflow */
        x = x * 10 + (*p++ - '0');
    }
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) return BAIL; /* floats: leave to Python */
    if (neg && x == 0) return BAIL;                                        /* -0 becomes 0 */
    *v = neg ? -x : x;
    L->p = p;
    return OK;
}

static int literal(Lexer *L, const char *word, size_t n) {
    if ((size_t)(L->end - L->p) < n || memcmp(L->p, word, n)) return BAIL;
    L->p += n;
    return OK;
}

/* Value kinds seen by handlers */
enum { V_OTHER, V_STRING, V_INT, V_TRUE, V_FALSE, V_NULL, V_OBJECT, V_ARRAY };

typedef struct Ctx Ctx;
typedef int (*KeyHandler)(Ctx *c, const unsigned char *key, size_t klen, int depth);

static int emit_value(Ctx *c, int depth);
static int emit_object(Ctx *c, int depth, KeyHandler handler);

/* ---- per-event state ----------------------------------------------------------------------- */
typedef struct {
    const unsigned char *s;
    size_t n;
    int set;
} Str; /* a string slice; copied into `own` when it came from the scratch buffer */

typedef struct {
    int64_t v;
    int set;
} Int;

typedef struct {
    int set;   /* ints and bools: valid (strings: s.set) */
    int64_t i; /* int64, microseconds or 0/1 */
    Str s;
} Val; /* one output column's value for the row being written */

struct Ctx {
    Lexer L;
    /* the event */
    Buf own; /* decoded strings that had escapes, kept for the row (Str.set == 2: an offset into it) */
    Str id, type, created_at, actor_login, repo_name, org_login, action, ref, ref_type;
    Int actor_id, repo_id, org_id, size, distinct_size, number, issue_number, pr_number;
    int public_, pr_merged; /* -1 null, 0/1 */
    int seen_actor, has_payload, payload_null, has_number_key, has_issue_key, has_pr_key;
    int commits_list, commits_count, commits_all_distinct_keyed, commits_distinct_true;
    int hash_emails, known_ats;
    int label_named; /* the label object being read had a `name` */
    int64_t pages;   /* GollumEvent pages counted */
    Val col[NCOLS];  /* the curated columns read from the payload (timestamps: their text in .s) */
    /* end of the per-event fields (cleared per line up to here) */
    int end_of_event;
    Buf payload; /* re-emitted payload of the current event */
    Buf labels;  /* issue_labels: the label names as a JSON array */
};

/* Keep a string slice valid until the row is written (scratch is reused). */
static int keep(Ctx *c, Str *dst, const unsigned char *s, size_t n) {
    if (c->L.scratch.data && s >= c->L.scratch.data && s < c->L.scratch.data + c->L.scratch.cap) {
        /* stored as an offset into `own`; resolved when the row is written */
        size_t off = c->own.len;
        if (buf_put(&c->own, s, n)) return FAIL;
        dst->s = (const unsigned char *)(uintptr_t)(off + 1); /* tagged: offset+1, see resolve() */
        dst->n = n;
        dst->set = 2;
        return OK;
    }
    dst->s = s, dst->n = n, dst->set = 1;
    return OK;
}

static inline const unsigned char *resolve(Ctx *c, const Str *v) {
    return v->set == 2 ? c->own.data + ((uintptr_t)v->s - 1) : v->s;
}

static inline int key_is(const unsigned char *k, size_t n, const char *lit) {
    size_t m = strlen(lit);
    return n == m && memcmp(k, lit, m) == 0;
}

/* The kind of the value at L->p (without consuming it). */
static int peek_kind(Lexer *L) {
    if (L->p >= L->end) return V_OTHER;
    switch (*L->p) {
        case '"': return V_STRING;
        case '{': return V_OBJECT;
        case '[': return V_ARRAY;
        case 't': return V_TRUE;
        case 'f': return V_FALSE;
        case 'n': return V_NULL;
        default: return (*L->p == '-' || (*L->p >= '0' && *L->p <= '9')) ? V_INT : V_OTHER;
    }
}

/* A string value kept in `dst` (and written out). */
static int take_string(Ctx *c, Str *dst) {
    const unsigned char *s;
    size_t n;
    int rc = read_string(&c->L, &s, &n, 1);
    if (rc) return rc;
    return keep(c, dst, s, n);
}

/* A value that is kept when it has the wanted kind (string/int/bool), written out when null; any
 * other kind is given back: Python rejects a typed field of the wrong JSON type (fields.py). */
static int value_as_string(Ctx *c, Str *dst, int depth) {
    int k = peek_kind(&c->L);
    if (k == V_STRING) return take_string(c, dst);
    return k == V_NULL ? emit_value(c, depth) : BAIL;
}

static int value_as_int(Ctx *c, Int *dst, int depth) {
    int k = peek_kind(&c->L);
    if (k == V_INT) {
        int rc = read_int(&c->L, &dst->v);
        if (!rc) dst->set = 1;
        return rc;
    }
    return k == V_NULL ? emit_value(c, depth) : BAIL;
}

static int value_as_bool(Ctx *c, int *dst, int depth) {
    int k = peek_kind(&c->L);
    if (k == V_TRUE || k == V_FALSE) *dst = (k == V_TRUE);
    else if (k != V_NULL) return BAIL;
    return emit_value(c, depth);
}

/* ---- generic values ------------------------------------------------------------------------ */
/* `[ v, v, ... ]` with `element` reading each value (NULL: emit_value). */
typedef int (*Element)(Ctx *c, int depth);

static int emit_array(Ctx *c, int depth, Element element) {
    Lexer *L = &c->L;
    int rc;
    L->p++; /* [ */
    if ((rc = skip_ws(L))) return rc;
    if (L->p < L->end && *L->p == ']') {
        L->p++;
        return OK;
    }
    for (;;) {
        if ((rc = element ? element(c, depth + 1) : emit_value(c, depth + 1))) return rc;
        if ((rc = skip_ws(L))) return rc;
        if (L->p >= L->end) return BAIL;
        if (*L->p == ',') {
            L->p++;
            if ((rc = skip_ws(L))) return rc;
            continue;
        }
        if (*L->p == ']') {
            L->p++;
            return OK;
        }
        return BAIL;
    }
}

static int emit_value(Ctx *c, int depth) {
    Lexer *L = &c->L;
    if (depth > MAX_DEPTH) return BAIL;
    int rc = skip_ws(L);
    if (rc) return rc;
    switch (peek_kind(L)) {
        case V_STRING: {
            const unsigned char *s;
            size_t n;
            return read_string(L, &s, &n, 0);
        }
        case V_OBJECT: return emit_object(c, depth, NULL);
        case V_ARRAY: return emit_array(c, depth, NULL);
        case V_TRUE: return literal(L, "true", 4);
        case V_FALSE: return literal(L, "false", 5);
        case V_NULL: return literal(L, "null", 4);
        case V_INT: {
            int64_t v;
            return read_int(L, &v);
        }
        default: return BAIL;
    }
}

/* Hash of a key for duplicate detection: equal keys must hash alike (a collision only costs a
 * fallback). The tail is one masked 8-byte load when `readable` allows it (little-endian only). */
static inline uint64_t key_hash(const unsigned char *s, size_t n, const unsigned char *readable) {
    uint64_t h = (uint64_t)n * 0x9E3779B97F4A7C15ULL;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) h = (h ^ load8(s + i)) * 0xff51afd7ed558ccdULL;
    size_t r = n - i;
    if (r) {
        uint64_t w = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        if (s + i + 8 <= readable) w = load8(s + i) & ((1ULL << (8 * r)) - 1);
        else memcpy(&w, s + i, r);
#else
        (void)readable;
        memcpy(&w, s + i, r);
#endif
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
    }
    return h ^ (h >> 31);
}

/* An object, keys in order; `handler` may take a key's value (returns 1 when it did).
 * Any duplicate key (possible false positive on a hash collision) gives the line back: orjson
 * keeps the last value at the first position, which this single pass cannot reproduce. */
static int emit_object(Ctx *c, int depth, KeyHandler handler) {
    Lexer *L = &c->L;
    if (depth > MAX_DEPTH) return BAIL;
    L->p++; /* { */
    int rc = skip_ws(L);
    if (rc) return rc;
    if (L->p < L->end && *L->p == '}') {
        L->p++;
        return OK;
    }
    size_t base = L->nkeys;
    uint64_t bloom[4] = {0, 0, 0, 0};
    for (;;) {
        if (L->p >= L->end || *L->p != '"') { rc = BAIL; break; }
        const unsigned char *key;
        size_t klen;
        if ((rc = read_string(L, &key, &klen, 1))) break;
        uint64_t h = key_hash(key, klen, key == L->scratch.data ? key + klen : L->end);
        unsigned bit = (unsigned)(h >> 56);
        if (bloom[bit >> 6] & (1ULL << (bit & 63))) {
            for (size_t i = base; i < L->nkeys; i++)
                if (L->keys[i] == h) { rc = BAIL; break; }
            if (rc) break;
        }
        bloom[bit >> 6] |= 1ULL << (bit & 63);
        if (L->nkeys == L->capkeys) {
            size_t cap = L->capkeys ? L->capkeys * 2 : 256;
            uint64_t *k = realloc(L->keys, cap * sizeof *k);
            if (!k) { rc = FAIL; break; }
            L->keys = k, L->capkeys = cap;
        }
        L->keys[L->nkeys++] = h;
        if ((rc = skip_ws(L))) break;
        if (L->p >= L->end || *L->p != ':') { rc = BAIL; break; }
        L->p++;
        if ((rc = skip_ws(L))) break;
        /* handlers compare the key before they read the value (which may reuse scratch, where an
         * escaped key lives), and every key reaches them: the envelope's refuses unknown ones */
        int taken = 0;
        if (handler) {
            taken = handler(c, key, klen, depth + 1);
            if (taken < 0) { rc = taken; break; }
        }
        if (!taken && (rc = emit_value(c, depth + 1))) break;
        if ((rc = skip_ws(L))) break;
        if (L->p >= L->end) { rc = BAIL; break; }
        if (*L->p == ',') {
            L->p++;
            if ((rc = skip_ws(L))) break;
            continue;
        }
        if (*L->p == '}') {
            L->p++;
            rc = OK;
            break;
        }
        rc = BAIL;
        break;
    }
    L->nkeys = base;
    return rc;
}

/* ---- e-mails ------------------------------------------------------------------------------- */
/* pii.hash_email: sha1(local)@domain (domain up to a further '@'), sha1(value) without '@';
 * values whose local part (or whole value) is already 40 hex characters are left alone. */
static int emit_hashed_email(Ctx *c, const unsigned char *v, size_t n) {
    Lexer *L = &c->L;
    const unsigned char *at = memchr(v, '@', n);
    char hex[40];
    Buf *tmp = &L->tmp;
    tmp->len = 0;
    if (!at) {
        if (is_hex40(v, n)) return emit_escaped(L->out, v, n);
        sha1_hex(v, n, hex);
        return emit_escaped(L->out, (const unsigned char *)hex, 40);
    }
    size_t local = (size_t)(at - v);
    c->known_ats++;
    if (is_hex40(v, local)) return emit_escaped(L->out, v, n);
    const unsigned char *dom = at + 1;
    const unsigned char *dend = memchr(dom, '@', n - local - 1);
    size_t dlen = dend ? (size_t)(dend - dom) : n - local - 1;
    sha1_hex(v, local, hex);
    if (buf_put(tmp, hex, 40) || buf_putc(tmp, '@') || buf_put(tmp, dom, dlen)) return FAIL;
    return emit_escaped(L->out, tmp->data, tmp->len);
}

/* `email` of a commit author / follow target: its string is replaced by the hashed value. */
static int on_email_holder(Ctx *c, const unsigned char *k, size_t n, int depth) {
    (void)depth;
    Lexer *L = &c->L;
    if (!c->hash_emails || !L->out || !key_is(k, n, "email") || peek_kind(L) != V_STRING) return 0;
    const unsigned char *s, *from = L->p;
    size_t len;
    if (flush_to(L, from, from)) return FAIL; /* everything before the string is out */
    size_t written = L->out->len;
    int rc = read_string(L, &s, &len, 1);
    if (rc) return rc;
    L->out->len = written; /* drop the string's own text, if read_string re-encoded it */
    L->flushed = L->p;     /* ... and never copy its source text */
    rc = emit_hashed_email(c, s, len);
    return rc ? rc : 1;
}

/* pii._quoted_local (JSON text): `\\"<1..64 quoted chars, inner spaces>\\"` right before d[at]. */
static int quoted_local(const unsigned char *d, size_t at, size_t last) {
    if (at < 3 || d[at - 1] != '"' || d[at - 2] != '\\') return 0;
    size_t close = at - 2, lo = close > 128 ? close - 128 : 0, j = close;
    if (lo < last) lo = last;
    for (;;) {
        if (j <= lo) return 0;
        if (d[--j] == '"') break;
    }
    if (j == 0 || d[j - 1] != '\\') return 0;
    const unsigned char *q = d + j + 1;
    size_t len = close - j - 1;
    if (len < 1 || len > 64 || !is_quoted_char(q[0]) || !is_quoted_char(q[len - 1])) return 0;
    for (size_t k = 1; k + 1 < len; k++)
        if (q[k] != ' ' && q[k] != ',' && !is_quoted_char(q[k])) return 0;
    return 1;
}

/* pii.scrub over the emitted payload: every local@domain -> sha1(local)@domain; 1 changed, 0 not,
 * BAIL for a quoted local part (`\\"john doe\\"@x.org`: left to Python). */
static int scrub(const unsigned char *d, size_t n, Buf *out) {
    size_t last = 0;
    int changed = 0;
    const unsigned char *hit = memchr(d, '@', n);
    while (hit) {
        size_t at = (size_t)(hit - d);
        if (at + 1 < n && (is_label_char(d[at + 1]) || d[at + 1] == '[') && quoted_local(d, at, last))
            return BAIL; /* a quoted local part (pii._quoted_local): left to Python */
        /* the whole local part, however long (pii.scrub extends its 128-byte window likewise);
         * it ends with a non-special; a local part never spans an '@', so no byte is scanned twice */
        size_t L = 0;
        if (at > last && is_local_end(d[at - 1]))
            while (at - L > last && is_local_char(d[at - L - 1])) L++;
        int letter = 0;
        if (L > 0 && at + 1 < n && is_label_char(d[at + 1])) {
            /* domain: LABEL(.LABEL)*, LABEL = [alnum or non-ASCII]([... or -]*[alnum or non-ASCII])? */
            size_t p = at + 1;
            for (;;) {
                size_t q = p, lab_end = p;
                while (q < n && (is_label_char(d[q]) || d[q] == '-')) {
                    if (is_label_char(d[q])) lab_end = q + 1;
                    q++;
                }
                for (size_t i = p; i < lab_end; i++) letter |= is_letter(d[i]);
                if (lab_end == q && q + 1 < n && d[q] == '.' && is_label_char(d[q + 1])) {
                    p = q + 1;
                    continue;
                }
                break;
            }
        } else if (L > 0 && ip_literal(d, n, at + 1)) {
            letter = 1; /* an address literal: `[192.0.2.1]` */
        }
        if (L > 0 && letter) {
            size_t start = at - L > last ? at - L : last;
            if (start > 0 && d[start - 1] == '\\' && d[start] < 0x80) start++; /* JSON escapes are ASCII */
            /* never half a character, no leading special (pii._LEAD_SKIP) */
            while (start < at && ((d[start] >= 0x80 && d[start] <= 0xBF) || is_special(d[start]))) start++;
            size_t llen = start < at ? at - start : 0;
            if (llen > 0 && !(llen == 3 && memcmp(d + start, "git", 3) == 0) && !is_hex40(d + start, llen)) {
                char hex[40];
                sha1_hex(d + start, llen, hex);
                if (buf_put(out, d + last, start - last) || buf_put(out, hex, 40)) return FAIL;
                last = at;
                changed = 1;
            }
        }
        hit = at + 1 < n ? memchr(d + at + 1, '@', n - at - 1) : NULL;
    }
    if (!changed) return 0;
    if (buf_put(out, d + last, n - last)) return FAIL;
    return 1;
}

static size_t count_byte(const unsigned char *d, size_t n, unsigned char b) {
    size_t k = 0;
    const unsigned char *p = d, *end = d + n;
    while ((p = memchr(p, b, (size_t)(end - p)))) k++, p++;
    return k;
}

static size_t count_ssh(const unsigned char *d, size_t n) {
    static const char pat[] = "\"git@github.com:";
    size_t k = 0, m = sizeof pat - 1;
    const unsigned char *p = d, *end = d + n;
    while ((size_t)(end - p) >= m && (p = memchr(p, '@', (size_t)(end - p)))) {
        if (p - d >= 4 && (size_t)(end - p) >= m - 4 && memcmp(p - 4, pat, m) == 0) k++;
        p++;
    }
    return k;
}

/* ---- payload semantics (curated.py) ---------------------------------------------------------- */
static int on_commit(Ctx *c, const unsigned char *k, size_t n, int depth) {
    if (key_is(k, n, "author")) {
        if (peek_kind(&c->L) != V_OBJECT) return 0;
        int rc = emit_object(c, depth, on_email_holder);
        return rc ? rc : 1;
    }
    if (key_is(k, n, "distinct")) {
        c->commits_all_distinct_keyed++; /* counted per commit: compared with the commit count */
        if (peek_kind(&c->L) == V_TRUE) c->commits_distinct_true++;
    }
    return 0;
}

static int commit_element(Ctx *c, int depth) {
    c->commits_count++;
    if (peek_kind(&c->L) == V_OBJECT) return emit_object(c, depth, on_commit);
    c->commits_all_distinct_keyed = -1000000; /* a commit that is not a dict: no distinct size */
    return emit_value(c, depth);
}

/* A curated column's value at L->p (curated.py's strict types: a wrong JSON kind gives the line
 * back, Python rejects it); returns 1 (taken) or an error. Timestamps keep their text, parsed when
 * the row is written. */
static int col_text(Ctx *c, int col, int depth) {
    int rc = value_as_string(c, &c->col[col].s, depth);
    return rc ? rc : 1;
}

static int col_int64(Ctx *c, int col, int depth) {
    Int v = {0};
    int rc = value_as_int(c, &v, depth);
    if (rc) return rc;
    if (v.set) c->col[col].set = 1, c->col[col].i = v.v;
    return 1;
}

/* `login` of an account object (merged_by, member) */
static int login_into(Ctx *c, const unsigned char *k, size_t n, int depth, int col) {
    return key_is(k, n, "login") ? col_text(c, col, depth) : 0;
}

static int on_merged_by(Ctx *c, const unsigned char *k, size_t n, int depth) {
    return login_into(c, k, n, depth, C_PR_MERGED_BY);
}

static int on_member(Ctx *c, const unsigned char *k, size_t n, int depth) {
    return login_into(c, k, n, depth, C_MEMBER_LOGIN);
}

static int on_pr_head(Ctx *c, const unsigned char *k, size_t n, int depth) {
    if (key_is(k, n, "ref")) return col_text(c, C_PR_HEAD_REF, depth);
    if (key_is(k, n, "sha")) return col_text(c, C_PR_HEAD_SHA, depth);
    return 0;
}

static int on_pr_base(Ctx *c, const unsigned char *k, size_t n, int depth) {
    if (key_is(k, n, "ref")) return col_text(c, C_PR_BASE_REF, depth);
    if (key_is(k, n, "sha")) return col_text(c, C_PR_BASE_SHA, depth);
    return 0;
}

/* the value is an object read by `handler`, else (null, ...) it holds no column */
static int nested(Ctx *c, int depth, KeyHandler handler) {
    if (peek_kind(&c->L) != V_OBJECT) return 0;
    int rc = emit_object(c, depth, handler);
    return rc ? rc : 1;
}

/* a label: its name goes into the JSON array of names; one without a name is left to Python */
static int on_label(Ctx *c, const unsigned char *k, size_t n, int depth) {
    (void)depth;
    if (!key_is(k, n, "name")) return 0;
    if (peek_kind(&c->L) != V_STRING) return BAIL;
    const unsigned char *s;
    size_t len;
    int rc = read_string(&c->L, &s, &len, 1);
    if (rc) return rc;
    if (c->labels.len > 1 && buf_putc(&c->labels, ',')) return FAIL;
    if (emit_escaped(&c->labels, s, len)) return FAIL;
    c->label_named = 1;
    return 1;
}

static int label_element(Ctx *c, int depth) {
    if (peek_kind(&c->L) != V_OBJECT) return BAIL;
    c->label_named = 0;
    int rc = emit_object(c, depth, on_label);
    if (rc) return rc;
    return c->label_named ? OK : BAIL;
}

static int on_issue(Ctx *c, const unsigned char *k, size_t n, int depth) {
    int rc;
    if (n == 0) return 0;
    switch (k[0]) {
        case 'n':
            if (!key_is(k, n, "number")) return 0;
            rc = value_as_int(c, &c->issue_number, depth);
            return rc ? rc : 1;
        case 't': return key_is(k, n, "title") ? col_text(c, C_ISSUE_TITLE, depth) : 0;
        case 's': return key_is(k, n, "state") ? col_text(c, C_ISSUE_STATE, depth) : 0;
        case 'c':
            if (key_is(k, n, "comments")) return col_int64(c, C_ISSUE_COMMENTS, depth);
            if (key_is(k, n, "closed_at")) return col_text(c, C_ISSUE_CLOSED_AT, depth);
            return 0;
        case 'l':
            if (!key_is(k, n, "labels") || peek_kind(&c->L) != V_ARRAY) return 0;
            c->labels.len = 0;
            if (buf_putc(&c->labels, '[')) return FAIL;
            if ((rc = emit_array(c, depth, label_element))) return rc;
            if (buf_putc(&c->labels, ']')) return FAIL;
            c->col[C_ISSUE_LABELS].s = (Str){c->labels.data, c->labels.len, 1};
            return 1;
        default: return 0;
    }
}

static int on_pull_request(Ctx *c, const unsigned char *k, size_t n, int depth) {
    int rc;
    if (n == 0) return 0;
    switch (k[0]) {
        case 'n':
            if (!key_is(k, n, "number")) return 0;
            rc = value_as_int(c, &c->pr_number, depth);
            return rc ? rc : 1;
        case 'm':
            if (key_is(k, n, "merged")) {
                rc = value_as_bool(c, &c->pr_merged, depth);
                return rc ? rc : 1;
            }
            if (key_is(k, n, "merged_at")) return col_text(c, C_PR_MERGED_AT, depth);
            if (key_is(k, n, "merged_by")) return nested(c, depth, on_merged_by);
            return 0;
        case 't': return key_is(k, n, "title") ? col_text(c, C_PR_TITLE, depth) : 0;
        case 's': return key_is(k, n, "state") ? col_text(c, C_PR_STATE, depth) : 0;
        case 'c':
            if (key_is(k, n, "closed_at")) return col_text(c, C_PR_CLOSED_AT, depth);
            if (key_is(k, n, "changed_files")) return col_int64(c, C_PR_CHANGED_FILES, depth);
            if (key_is(k, n, "commits")) return col_int64(c, C_PR_COMMITS, depth);
            if (key_is(k, n, "comments")) return col_int64(c, C_PR_COMMENTS, depth);
            return 0;
        case 'a':
            if (key_is(k, n, "additions")) return col_int64(c, C_PR_ADDITIONS, depth);
            if (key_is(k, n, "author_association")) return col_text(c, C_PR_AUTHOR_ASSOCIATION, depth);
            return 0;
        case 'd': return key_is(k, n, "deletions") ? col_int64(c, C_PR_DELETIONS, depth) : 0;
        case 'r': return key_is(k, n, "review_comments") ? col_int64(c, C_PR_REVIEW_COMMENTS, depth) : 0;
        case 'h': return key_is(k, n, "head") ? nested(c, depth, on_pr_head) : 0;
        case 'b': return key_is(k, n, "base") ? nested(c, depth, on_pr_base) : 0;
        default: return 0;
    }
}

static int on_comment(Ctx *c, const unsigned char *k, size_t n, int depth) {
    if (key_is(k, n, "id")) return col_int64(c, C_COMMENT_ID, depth);
    if (key_is(k, n, "commit_id")) return col_text(c, C_COMMENT_COMMIT_ID, depth);
    if (key_is(k, n, "path")) return col_text(c, C_COMMENT_PATH, depth);
    if (key_is(k, n, "position")) return col_int64(c, C_COMMENT_POSITION, depth);
    if (key_is(k, n, "line")) return col_int64(c, C_COMMENT_LINE, depth);
    return 0;
}

static int on_review(Ctx *c, const unsigned char *k, size_t n, int depth) {
    return key_is(k, n, "state") ? col_text(c, C_REVIEW_STATE, depth) : 0;
}

static int on_release(Ctx *c, const unsigned char *k, size_t n, int depth) {
    if (key_is(k, n, "tag_name")) return col_text(c, C_RELEASE_TAG, depth);
    if (key_is(k, n, "name")) return col_text(c, C_RELEASE_NAME, depth);
    return 0;
}

static int on_forkee(Ctx *c, const unsigned char *k, size_t n, int depth) {
    return key_is(k, n, "full_name") ? col_text(c, C_FORK_FULL_NAME, depth) : 0;
}

static int page_element(Ctx *c, int depth) {
    c->pages++;
    return emit_value(c, depth);
}

static int on_payload(Ctx *c, const unsigned char *k, size_t n, int depth) {
    int rc;
    if (n == 0) return 0;
    switch (k[0]) {
        case 'a':
            if (!key_is(k, n, "action")) return 0;
            rc = value_as_string(c, &c->action, depth);
            break;
        case 'r':
            if (key_is(k, n, "ref")) rc = value_as_string(c, &c->ref, depth);
            else if (key_is(k, n, "ref_type")) rc = value_as_string(c, &c->ref_type, depth);
            else if (key_is(k, n, "review")) return nested(c, depth, on_review);
            else if (key_is(k, n, "release")) return nested(c, depth, on_release);
            else return 0;
            break;
        case 's':
            if (key_is(k, n, "size")) rc = value_as_int(c, &c->size, depth);
            else if (key_is(k, n, "shas")) return BAIL; /* the backfill PushEvent form */
            else return 0;
            break;
        case 'd':
            if (!key_is(k, n, "distinct_size")) return 0;
            rc = value_as_int(c, &c->distinct_size, depth);
            break;
        case 'c':
            if (key_is(k, n, "comment")) return nested(c, depth, on_comment);
            if (key_is(k, n, "comment_id") || key_is(k, n, "commit")) return BAIL; /* Timeline forms */
            if (!key_is(k, n, "commits") || peek_kind(&c->L) != V_ARRAY) return 0;
            c->commits_list = 1;
            rc = emit_array(c, depth, commit_element);
            break;
        case 'm':
            if (!key_is(k, n, "member")) return 0;
            if (peek_kind(&c->L) == V_STRING) return BAIL; /* the 2011 form: a login */
            return nested(c, depth, on_member);
        case 'f':
            return key_is(k, n, "forkee") ? nested(c, depth, on_forkee) : 0;
        case 't':
            if (!key_is(k, n, "target") || peek_kind(&c->L) != V_OBJECT) return 0;
            rc = emit_object(c, depth, on_email_holder);
            break;
        case 'n':
            if (!key_is(k, n, "number")) return 0;
            c->has_number_key = 1;
            rc = value_as_int(c, &c->number, depth);
            break;
        case 'i':
            if (!key_is(k, n, "issue")) return 0;
            c->has_issue_key = 1;
            if (peek_kind(&c->L) != V_OBJECT) return 0;
            rc = emit_object(c, depth, on_issue);
            break;
        case 'p':
            if (key_is(k, n, "pages") && peek_kind(&c->L) == V_ARRAY) {
                c->pages = 0;
                if ((rc = emit_array(c, depth, page_element))) return rc;
                c->col[C_WIKI_PAGES] = (Val){1, c->pages, {0}};
                return 1;
            }
            if (!key_is(k, n, "pull_request")) return 0;
            c->has_pr_key = 1;
            if (peek_kind(&c->L) != V_OBJECT) return 0;
            rc = emit_object(c, depth, on_pull_request);
            break;
        default: return 0;
    }
    return rc ? rc : 1;
}

/* ---- envelope ------------------------------------------------------------------------------ */
/* `id` and `login` of an account object (actor, org) */
static int account_field(Ctx *c, const unsigned char *k, size_t n, int depth, Int *id, Str *login) {
    int rc;
    if (key_is(k, n, "id")) rc = value_as_int(c, id, depth);
    else if (key_is(k, n, "login")) rc = value_as_string(c, login, depth);
    else return 0;
    return rc ? rc : 1;
}

static int on_actor(Ctx *c, const unsigned char *k, size_t n, int depth) {
    return account_field(c, k, n, depth, &c->actor_id, &c->actor_login);
}

static int on_org(Ctx *c, const unsigned char *k, size_t n, int depth) {
    return account_field(c, k, n, depth, &c->org_id, &c->org_login);
}

static int on_repo(Ctx *c, const unsigned char *k, size_t n, int depth) {
    int rc;
    if (key_is(k, n, "id")) rc = value_as_int(c, &c->repo_id, depth);
    else if (key_is(k, n, "name")) rc = value_as_string(c, &c->repo_name, depth);
    else if (key_is(k, n, "url") && peek_kind(&c->L) == V_STRING) {
        Str url = {0};
        if ((rc = take_string(c, &url))) return rc;
        const unsigned char *u = resolve(c, &url);
        static const char dev[] = "api.github.dev";
        for (size_t i = 0; i + sizeof dev - 1 <= url.n; i++)
            if (memcmp(u + i, dev, sizeof dev - 1) == 0) return BAIL; /* backfill era */
        return 1;
    } else return 0;
    return rc ? rc : 1;
}

static int on_event(Ctx *c, const unsigned char *k, size_t n, int depth) {
    Lexer *L = &c->L;
    int kind = peek_kind(L), rc;
    if (key_is(k, n, "payload")) {
        c->has_payload = 1;
        if (kind == V_NULL) {
            c->payload_null = 1;
            return literal(L, "null", 4) ? BAIL : 1;
        }
        if (kind != V_OBJECT || !c->type.set) return BAIL; /* e-mail rules depend on the type */
        const unsigned char *t = resolve(c, &c->type);
        c->hash_emails = key_is(t, c->type.n, "PushEvent") || key_is(t, c->type.n, "FollowEvent");
        c->payload.len = 0;
        L->out = &c->payload, L->flushed = L->p;
        rc = emit_object(c, depth, on_payload);
        if (!rc) rc = flush_to(L, L->p, L->p);
        L->out = NULL;
    } else if (key_is(k, n, "id")) {
        if (kind == V_STRING) rc = take_string(c, &c->id);
        else if (kind == V_INT) {
            const unsigned char *t = L->p;
            int64_t v;
            if ((rc = read_int(L, &v))) return rc;
            rc = keep(c, &c->id, t, (size_t)(L->p - t));
        } else return BAIL;
    } else if (key_is(k, n, "type")) {
        if (kind != V_STRING) return BAIL;
        rc = take_string(c, &c->type);
    } else if (key_is(k, n, "created_at")) {
        if (kind != V_STRING) return BAIL;
        rc = take_string(c, &c->created_at);
    } else if (key_is(k, n, "public")) {
        rc = value_as_bool(c, &c->public_, depth);
    } else if (key_is(k, n, "actor")) {
        if (kind != V_OBJECT) return BAIL; /* Timeline: a login string or null */
        c->seen_actor = 1;
        rc = emit_object(c, depth, on_actor);
    } else if (key_is(k, n, "repo")) {
        rc = kind == V_OBJECT ? emit_object(c, depth, on_repo) : kind == V_NULL ? emit_value(c, depth) : BAIL;
    } else if (key_is(k, n, "org")) {
        rc = kind == V_OBJECT ? emit_object(c, depth, on_org) : kind == V_NULL ? emit_value(c, depth) : BAIL;
    } else return BAIL; /* a field for `other` (or Timeline's `repository`): the Python path */
    return rc ? rc : 1;
}

/* ---- timestamps -------------------------------------------------------------------------------- */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* `YYYY-MM-DDTHH:MM:SSZ` -> microseconds; any other spelling goes to the Python parser. */
static int parse_time(const unsigned char *s, size_t n, int64_t *us) {
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (n != 20) return BAIL;
    for (size_t i = 0; i < 20; i++) {
        if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != (unsigned char)shape[i]) return BAIL;
    }
#define NUM2(i) ((s[i] - '0') * 10 + (s[i + 1] - '0'))
    int y = NUM2(0) * 100 + NUM2(2), mo = NUM2(5), d = NUM2(8), h = NUM2(11), mi = NUM2(14), se = NUM2(17);
#undef NUM2
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return BAIL;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[mo - 1] + (mo == 2 && leap)) return BAIL;
    *us = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400) + h * 3600 + mi * 60 + se) * 1000000LL;
    return OK;
}

/* ---- Arrow column builders --------------------------------------------------------------------- */
typedef struct {
    Buf valid, values, data; /* validity bits; int64/bool-bits/int32 offsets; string bytes */
    int64_t nulls;
    int kind; /* 's' string, 'i' int64, 't' timestamp (int64 microseconds), 'b' bool */
} Column;

/* Bitmaps are allocated zeroed for every line of the chunk up front (map_lines): a row only sets
 * its bit when it is on. */
static inline int col_bit(Buf *b, int64_t row, int on) {
    if (on) b->data[row >> 3] |= (unsigned char)(1u << (row & 7));
    return OK;
}

static int col_string(Column *col, int64_t row, const unsigned char *s, size_t n, int valid) {
    if (row == 0) {
        int32_t zero = 0;
        if (buf_put(&col->values, &zero, 4)) return FAIL;
    }
    if (valid && buf_put(&col->data, s, n)) return FAIL;
    if (col->data.len > INT32_MAX) return BAIL;
    int32_t off = (int32_t)col->data.len;
    if (buf_put(&col->values, &off, 4)) return FAIL;
    col->nulls += !valid;
    return col_bit(&col->valid, row, valid);
}

static int col_int(Column *col, int64_t row, int64_t v, int valid) {
    if (!valid) v = 0;
    if (buf_put(&col->values, &v, 8)) return FAIL;
    col->nulls += !valid;
    return col_bit(&col->valid, row, valid);
}

static int col_bool(Column *col, int64_t row, int v, int valid) {
    if (col_bit(&col->values, row, valid && v)) return FAIL;
    col->nulls += !valid;
    return col_bit(&col->valid, row, valid);
}

typedef struct {
    Column cols[NCOLS];
    int64_t first, last; /* the created_at window (microseconds) */
    int64_t rows;
    Buf row_offsets; /* int64 line offsets of the rows taken */
    size_t string_bytes; /* string data of all columns (a bound on each column's) */
    Buf scrubbed;
} Out;

static int is_bot_login(const unsigned char *s, size_t n, int *bot) {
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 0x80) return BAIL; /* Python's str.lower() on non-ASCII: leave to Python */
    static const char *suffixes[] = {"[bot]", "-bot", "_bot"};
    *bot = 0;
    for (int k = 0; k < 3; k++) {
        size_t m = strlen(suffixes[k]);
        if (n < m) continue;
        int eq = 1;
        for (size_t i = 0; i < m; i++) {
            unsigned char ch = s[n - m + i];
            if (ch >= 'A' && ch <= 'Z') ch += 32;
            if (ch != (unsigned char)suffixes[k][i]) eq = 0;
        }
        if (eq) *bot = 1;
    }
    return OK;
}

/* Whether s[0..n) holds `%40` (the URL-encoded '@'); `address`: only one that pii.scrub might
 * take for an address (a local-part character or a quote before it, a domain character after). */
static int has_pct40(const unsigned char *s, size_t n, int address) {
    for (const unsigned char *p = s, *end = s + n; (p = memchr(p, '%', (size_t)(end - p))); p++) {
        if (end - p < 3 || p[1] != '4' || p[2] != '0') continue;
        if (!address) return 1;
        if (p > s && (is_local_end(p[-1]) || p[-1] == '"') && end - p > 3 && (is_label_char(p[3]) || p[3] == '['))
            return 1;
    }
    return 0;
}

/* Whether `v` might hold an address: such column values are scrubbed in Python. An '@' can only
 * end an address after a local-part character or a quote (pii.scrub: the character before the '@'
 * is never a special, a quoted local part ends with '"'); one at the start or after anything else
 * (`@user please`, `Use @sh?`: mentions in titles) is no address. Any `%40` is left to Python. */
static int may_hold_address(Ctx *c, const Str *v) {
    if (!v->set) return 0;
    const unsigned char *s = resolve(c, v), *end = s + v->n;
    for (const unsigned char *p = s; (p = memchr(p, '@', (size_t)(end - p))); p++)
        if (p > s && (is_local_char(p[-1]) || p[-1] == '"')) return 1;
    return has_pct40(s, v->n, 0);
}

static int put_str(Out *o, int col, Ctx *c, const Str *v) {
    return col_string(&o->cols[col], o->rows, v->set ? resolve(c, v) : NULL, v->set ? v->n : 0, v->set != 0);
}

/* Parse one line into the event state; OK, BAIL or FAIL. */
static int parse_event(Ctx *c, const unsigned char *line, size_t n) {
    memset(&c->id, 0, (size_t)((char *)&c->end_of_event - (char *)&c->id));
    c->public_ = c->pr_merged = -1;
    c->own.len = 0;
    c->payload.len = 0;
    c->labels.len = 0;
    Lexer *L = &c->L;
    L->p = line, L->end = line + n, L->nkeys = 0, L->out = NULL;
    skip_ws(L);
    if (L->p >= L->end || *L->p != '{') return BAIL;
    int rc = emit_object(c, 0, on_event);
    if (rc) return rc;
    skip_ws(L);
    if (L->p != L->end) return BAIL;
    if (!c->seen_actor || !c->id.set || !c->id.n || !c->type.set || !c->type.n || !c->created_at.set)
        return BAIL;
    return OK;
}

/* Append the parsed event as one row; BAIL leaves the columns as they were (checked before). */
static int write_row(Ctx *c, Out *o, int64_t offset) {
    int64_t created;
    if (parse_time(resolve(c, &c->created_at), c->created_at.n, &created)) return BAIL;
    if (created < o->first || created > o->last) return BAIL; /* implausible: Python rejects it */
    int bot = 0;
    if (c->actor_login.set && is_bot_login(resolve(c, &c->actor_login), c->actor_login.n, &bot)) return BAIL;
    int is_push = key_is(resolve(c, &c->type), c->type.n, "PushEvent");
    int is_pr = key_is(resolve(c, &c->type), c->type.n, "PullRequestEvent");
    /* payload text: scrub free-text e-mails when it holds more '@' than the hashed fields */
    const unsigned char *pd = c->payload.data;
    size_t pn = c->payload.len;
    int has_payload = c->has_payload && !c->payload_null;
    if (has_payload) {
        if (has_pct40(pd, pn, 1)) return BAIL; /* `%40` addresses: left to Python */
        size_t ats = count_byte(pd, pn, '@');
        size_t known = (size_t)c->known_ats;
        if (ats > known && ats - count_ssh(pd, pn) > known) {
            o->scrubbed.len = 0;
            int rc = scrub(pd, pn, &o->scrubbed);
            if (rc < 0) return rc;
            if (rc) pd = o->scrubbed.data, pn = o->scrubbed.len;
        }
    }
    /* curated */
    Int size = {0}, distinct = {0}, number = {0};
    int merged = -1;
    if (has_payload) {
        if (is_push) {
            size = c->size, distinct = c->distinct_size;
            if ((!size.set || !distinct.set) && c->commits_list) {
                if (!size.set) size.v = c->commits_count, size.set = 1;
                if (!distinct.set && c->commits_all_distinct_keyed == c->commits_count)
                    distinct.v = c->commits_distinct_true, distinct.set = 1;
            }
        } else if (c->has_number_key || c->has_issue_key || c->has_pr_key) {
            number = c->number.set ? c->number : c->issue_number.set ? c->issue_number : c->pr_number;
            if (is_pr) merged = c->pr_merged;
        }
    }
    if (pn > INT32_MAX) return BAIL;
    /* every column's value, by the generated enum (a column nothing sets is null); the payload
     * handlers filled the curated columns they read */
    Val *v = c->col;
    Str payload = {pd, pn, has_payload};
    v[C_ID].s = c->id, v[C_TYPE].s = c->type;
    v[C_PUBLIC] = (Val){c->public_ >= 0, c->public_ == 1, {0}};
    v[C_CREATED_AT] = (Val){1, created, {0}};
    v[C_ACTOR_ID] = (Val){c->actor_id.set, c->actor_id.v, {0}}, v[C_ACTOR_LOGIN].s = c->actor_login;
    v[C_REPO_ID] = (Val){c->repo_id.set, c->repo_id.v, {0}}, v[C_REPO_NAME].s = c->repo_name;
    v[C_ORG_ID] = (Val){c->org_id.set, c->org_id.v, {0}}, v[C_ORG_LOGIN].s = c->org_login;
    v[C_PAYLOAD].s = payload;
    if (has_payload) v[C_ACTION].s = c->action, v[C_REF].s = c->ref, v[C_REF_TYPE].s = c->ref_type;
    v[C_PUSH_SIZE] = (Val){size.set, size.v, {0}};
    v[C_PUSH_DISTINCT_SIZE] = (Val){distinct.set, distinct.v, {0}};
    v[C_NUMBER] = (Val){number.set, number.v, {0}};
    v[C_PR_MERGED] = (Val){merged >= 0, merged == 1, {0}};
    v[C_IS_BOT] = (Val){c->actor_login.set, bot, {0}};
    for (int i = 0; i < NCOLS; i++) {
        if (KINDS[i] == 's' && i != C_PAYLOAD && may_hold_address(c, &v[i].s)) return BAIL; /* Python scrubs */
        if (KINDS[i] == 't' && i != C_CREATED_AT) {
            if (!v[i].s.set) continue;
            if (parse_time(resolve(c, &v[i].s), v[i].s.n, &v[i].i)) return BAIL; /* Python's parser decides */
            v[i].set = 1;
        }
    }
    /* offsets are int32: a chunk whose string data would pass 2 GiB gives the rest back */
    size_t grow = 0;
    for (int i = 0; i < NCOLS; i++)
        if (KINDS[i] == 's') grow += v[i].s.n;
    Column *k = o->cols;
    if (o->string_bytes + grow > INT32_MAX) /* only then can one column pass: look at each */
        for (int i = 0; i < NCOLS; i++)
            if (KINDS[i] == 's' && k[i].data.len + grow > INT32_MAX) return BAIL;
    o->string_bytes += grow;
    int64_t r = o->rows;
    for (int i = 0; i < NCOLS; i++) {
        int rc = KINDS[i] == 's' ? put_str(o, i, c, &v[i].s)
                 : KINDS[i] == 'b' ? col_bool(&k[i], r, (int)v[i].i, v[i].set)
                                   : col_int(&k[i], r, v[i].i, v[i].set); /* 'i', 't' */
        if (rc) return FAIL;
    }
    if (buf_put(&o->row_offsets, &offset, 8)) return FAIL;
    o->rows++;
    return OK;
}

static int is_blank(const unsigned char *s, size_t n) { /* bytes.isspace() (or empty) */
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) return 0;
    return 1;
}

/* ---- Python entry point ------------------------------------------------------------------------ */
/* A malloc'd buffer handed to Arrow without a copy (buffer protocol; freed with the last reference). */
typedef struct {
    PyObject_HEAD
    unsigned char *data;
    Py_ssize_t len;
} Block;

static void block_dealloc(PyObject *self) {
    free(((Block *)self)->data);
    Py_TYPE(self)->tp_free(self);
}

static int block_getbuffer(PyObject *self, Py_buffer *view, int flags) {
    Block *b = (Block *)self;
    return PyBuffer_FillInfo(view, self, b->data, b->len, 1, flags);
}

static PyBufferProcs BLOCK_BUFFER = {block_getbuffer, NULL};

static PyTypeObject BlockType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "gharchive_pipeline.normalize._fastpath.Block",
    .tp_basicsize = sizeof(Block),
    .tp_dealloc = block_dealloc,
    .tp_as_buffer = &BLOCK_BUFFER,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Bytes of one Arrow buffer, owned until the last reference goes.",
};

static PyObject *buf_to_bytes(Buf *b) { /* takes the buffer's memory */
    Block *block = PyObject_New(Block, &BlockType);
    if (!block) return NULL;
    if (!b->data && buf_grow(b, 1)) {
        Py_DECREF(block);
        return PyErr_NoMemory();
    }
    block->data = b->data, block->len = (Py_ssize_t)b->len;
    b->data = NULL, b->len = b->cap = 0;
    return (PyObject *)block;
}

static PyObject *column_tuple(Column *col, int64_t rows) {
    /* every row set its bit, so the bitmaps already cover all rows */
    PyObject *valid = col->nulls == 0 ? Py_NewRef(Py_None) : buf_to_bytes(&col->valid);
    if (col->kind == 's' && rows == 0) {
        int32_t zero = 0;
        if (buf_put(&col->values, &zero, 4)) return PyErr_NoMemory();
    }
    PyObject *values = buf_to_bytes(&col->values);
    if (col->kind == 's') {
        PyObject *data = buf_to_bytes(&col->data);
        return Py_BuildValue("(NNN)", valid, values, data);
    }
    return Py_BuildValue("(NN)", valid, values);
}

static void ctx_free(Ctx *c) {
    buf_free(&c->L.scratch);
    buf_free(&c->L.tmp);
    free(c->L.keys);
    buf_free(&c->own);
    buf_free(&c->payload);
    buf_free(&c->labels);
}

/* The lines of the pieces (split on '\n'), as pointers into the pieces; NULL when out of memory. */
static int split_pieces(const Py_buffer *views, Py_ssize_t npieces, const unsigned char ***ptrs, size_t **lens,
                        Py_ssize_t *count, size_t *total) {
    Py_ssize_t n = 0;
    *total = 0;
    for (Py_ssize_t i = 0; i < npieces; i++) {
        const unsigned char *p = views[i].buf, *end = p + views[i].len;
        *total += (size_t)views[i].len;
        n++;
        while ((p = memchr(p, '\n', (size_t)(end - p)))) n++, p++;
    }
    *ptrs = malloc(sizeof **ptrs * (size_t)(n ? n : 1));
    *lens = malloc(sizeof **lens * (size_t)(n ? n : 1));
    if (!*ptrs || !*lens) return FAIL;
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < npieces; i++) {
        const unsigned char *p = views[i].buf, *end = p + views[i].len, *nl;
        while ((nl = memchr(p, '\n', (size_t)(end - p)))) (*ptrs)[k] = p, (*lens)[k++] = (size_t)(nl - p), p = nl + 1;
        (*ptrs)[k] = p, (*lens)[k++] = (size_t)(end - p);
    }
    *count = n;
    return OK;
}

static PyObject *map_lines(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *arg;
    long long first = INT64_MIN, last = INT64_MAX;
    if (!PyArg_ParseTuple(args, "O|LL", &arg, &first, &last)) return NULL;
    if (!PyList_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "map_lines expects a list of bytes-like objects");
        return NULL;
    }
    Py_ssize_t npieces = PyList_GET_SIZE(arg);
    Py_buffer *views = calloc((size_t)(npieces ? npieces : 1), sizeof *views);
    if (!views) return PyErr_NoMemory();
    Py_ssize_t held = 0;
    for (; held < npieces; held++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(arg, held), &views[held], PyBUF_SIMPLE) < 0) break;
    }
    PyObject *result = NULL;
    const unsigned char **ptrs = NULL;
    size_t *lens = NULL;
    signed char *status = NULL; /* 0 blank, 1 row, 2 fallback */
    Out out;
    memset(&out, 0, sizeof out);
    out.first = first, out.last = last;
    Ctx *c = NULL;
    int failed = held < npieces ? -1 : 0; /* -1: a Python error is already set */
    Py_ssize_t count = 0, lines = 0;
    if (!failed) {
        Py_BEGIN_ALLOW_THREADS
        size_t total = 0;
        failed = split_pieces(views, npieces, &ptrs, &lens, &count, &total) ? 1 : 0;
        status = failed ? NULL : malloc((size_t)(count ? count : 1));
        c = failed ? NULL : calloc(1, sizeof *c);
        failed |= !status || !c;
        for (int i = 0; i < NCOLS && !failed; i++) { /* sized for the chunk up front: no regrowing */
            Column *col = &out.cols[i];
            col->kind = KINDS[i];
            size_t width = col->kind == 's' ? 4 : col->kind == 'b' ? 1 : 8;
            size_t bits = (size_t)count / 8 + 1;
            failed |= buf_grow(&col->valid, bits) || buf_grow(&col->values, (size_t)(count + 1) * width);
            if (col->kind == 's') failed |= buf_grow(&col->data, i == C_PAYLOAD ? total : (size_t)count * 16);
            if (failed) break;
            memset(col->valid.data, 0, bits), col->valid.len = bits; /* bitmaps: zeroed, see col_bit */
            if (col->kind == 'b') memset(col->values.data, 0, bits), col->values.len = bits;
        }
        failed |= !failed && buf_grow(&out.row_offsets, (size_t)count * 8 + 8);
        for (Py_ssize_t i = 0; i < count && !failed; i++) {
            if (is_blank(ptrs[i], lens[i])) {
                status[i] = 0;
                continue;
            }
            lines++;
            int rc = parse_event(c, ptrs[i], lens[i]);
            if (rc == OK) rc = write_row(c, &out, (int64_t)i);
            if (rc == FAIL) failed = 1;
            status[i] = rc == OK ? 1 : 2;
        }
        Py_END_ALLOW_THREADS
    }
    if (failed > 0) PyErr_NoMemory();
    if (!failed) {
        PyObject *columns = PyTuple_New(NCOLS);
        PyObject *fallback = PyList_New(0);
        int ok = columns && fallback;
        for (int i = 0; ok && i < NCOLS; i++) {
            PyObject *t = column_tuple(&out.cols[i], out.rows);
            if (!t) ok = 0;
            else PyTuple_SET_ITEM(columns, i, t);
        }
        for (Py_ssize_t i = 0; ok && i < count; i++) {
            if (status[i] != 2) continue;
            PyObject *v = Py_BuildValue("(ny#)", i, (const char *)ptrs[i], (Py_ssize_t)lens[i]);
            if (!v || PyList_Append(fallback, v)) ok = 0;
            Py_XDECREF(v);
        }
        if (ok) {
            result = Py_BuildValue("(LOONn)", (long long)out.rows, columns, fallback,
                                   buf_to_bytes(&out.row_offsets), lines);
        }
        Py_XDECREF(columns);
        Py_XDECREF(fallback);
    }
    for (int i = 0; i < NCOLS; i++) {
        buf_free(&out.cols[i].valid), buf_free(&out.cols[i].values), buf_free(&out.cols[i].data);
    }
    buf_free(&out.row_offsets);
    buf_free(&out.scrubbed);
    if (c) ctx_free(c);
    free(c);
    free(ptrs), free(lens), free(status);
    for (Py_ssize_t i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    free(views);
    return result;
}

/* count_lines(buffer, start, end) -> newlines in buffer[start:end]; bytes.count(b"\n") goes byte by
 * byte (6% of a run), this loop is vectorized by the compiler. */
static PyObject *count_lines(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer view;
    Py_ssize_t start, end;
    if (!PyArg_ParseTuple(args, "y*nn", &view, &start, &end)) return NULL;
    if (start < 0) start = 0;
    if (end > view.len) end = view.len;
    const unsigned char *p = view.buf;
    size_t n = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = start; i < end; i++) n += p[i] == '\n';
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSize_t(n);
}

/* numbers_at_risk(buffer) -> whether JSON text holds a number orjson would not give back as written
 * (a fraction, an exponent, or 19+ digits: numbers.py reads such lines again, keeping the text).
 * Strings are skipped (with their escapes), so a version "1.2" in a string is no risk. The regex
 * numbers.py uses without this module costs ~10x as much. */
static PyObject *numbers_at_risk(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *p = view.buf, *end = p + view.len;
    int risk = 0;
    Py_BEGIN_ALLOW_THREADS
    while (p < end && !risk) {
        unsigned char c = *p;
        if (c == '"') {
            p++;
            for (;;) { /* to the closing quote: plain runs at 8 bytes a step, escapes skipped */
                p += plain_run(p, (size_t)(end - p));
                if (p >= end) break;
                if (*p == '"') { p++; break; }
                p += *p == '\\' ? 2 : 1;
            }
        } else if ((c >= '0' && c <= '9') || c == '-') {
            const unsigned char *q = c == '-' ? p + 1 : p;
            const unsigned char *digits = q;
            while (q < end && *q >= '0' && *q <= '9') q++;
            risk = q - digits >= 19 || (q < end && (*q == '.' || *q == 'e' || *q == 'E'));
            p = q > p ? q : p + 1;
        } else {
            p++;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyBool_FromLong(risk);
}

/* columns() -> ((name, kind), ...): the column table this module was built with (native.py
 * compares it with schema.py before using the module). */
static PyObject *columns(PyObject *self, PyObject *args) {
    (void)self, (void)args;
    PyObject *t = PyTuple_New(NCOLS);
    for (int i = 0; t && i < NCOLS; i++) {
        PyObject *item = Py_BuildValue("(sC)", COLUMN_NAMES[i], KINDS[i]);
        if (!item) {
            Py_CLEAR(t);
            break;
        }
        PyTuple_SET_ITEM(t, i, item);
    }
    return t;
}

static PyMethodDef METHODS[] = {
    {"columns", columns, METH_NOARGS, "The (name, kind) column table the module was built with."},
    {"count_lines", count_lines, METH_VARARGS, "Newlines in buffer[start:end] (vectorized)."},
    {"numbers_at_risk", numbers_at_risk, METH_O, "Whether JSON text holds a number orjson would not keep as written."},
    {"map_lines", map_lines, METH_VARARGS, "Map Events-era NDJSON lines to Arrow column buffers (see module doc)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef MODULE = {PyModuleDef_HEAD_INIT, "_fastpath", NULL, -1, METHODS, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__fastpath(void) {
    if (PyType_Ready(&BlockType) < 0) return NULL;
#ifdef __GLIBC__
    /* Each chunk allocates and frees tens of MiB (inflated text, line objects, these buffers).
     * glibc would mmap and unmap every such block, so every page faults in afresh (measured: 244k
     * minor faults and 0.9 s of system time per 200k-event hour; 59k and 0.4 s with this). Keep
     * blocks under 64 MiB on the heap and return free heap memory above 256 MiB to the system. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
    return PyModule_Create(&MODULE);
}
