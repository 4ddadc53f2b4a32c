// tokref_driver.c: the C side of the tokenizer reference check (tests/e2e/test_tokenizer_ref.sh).
//   tokref_driver check NAME DIR CORPUS.jsonl EXPECTED.jsonl exact|nfc|noadded FIRST_TAP_NUMBER
//       compares slimscope's ids and decodes with the reference's (ref.mjs output) and prints
//       five numbered TAP lines; exits 1 if any failed.
//   tokref_driver bench DIR TEXT_FILE   encodes the file (repeatedly for >= 1 s) and prints MB/s.
//   tokref_driver ids DIR TEXT          prints the ids of TEXT with and without special tokens.
//   tokref_driver train CORPUS.jsonl VOCAB OUT_DIR   trains a byte-level BPE on the corpus strings
//       (joined by blank lines) and writes OUT_DIR/tokenizer.json and tokenizer_config.json.
// Built by the e2e script from core/tokenizer/*.c, core/bpe_train.c and core/common.c.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bpe_train.h"
#include "common.h"
#include "tokenizer.h"

static void print_ids(FILE* f, const int* ids, int n) {
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, i ? ",%d" : "%d", ids[i]);
    fputc(']', f);
}

static int ids_equal(const cJSON* arr, const int* ids, int n) {
    if (cJSON_GetArraySize(arr) != n) return 0;
    int i = 0;
    const cJSON* it;
    cJSON_ArrayForEach(it, arr) if ((int)it->valuedouble != ids[i++]) return 0;
    return 1;
}

static int* json_ids(const cJSON* arr, int* n) {
    *n = cJSON_GetArraySize(arr);
    int* ids = xmalloc(sizeof(int) * (size_t)(*n + 1));
    int i = 0;
    const cJSON* it;
    cJSON_ArrayForEach(it, arr) ids[i++] = (int)it->valuedouble;
    return ids;
}

// JSON-quotes s (malloc'd).
static char* quote(const char* s) {
    cJSON* j = cJSON_CreateString(s);
    char* q = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return q;
}

// Reads a JSONL file into an array of parsed lines.
static cJSON** read_jsonl(const char* path, int* n) {
    Err err;
    char* text = read_file_text(path, NULL, &err);
    if (!text) { fprintf(stderr, "%s\n", err.msg); exit(2); }
    cJSON** out = NULL;
    int cap = 0;
    *n = 0;
    for (char* line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (!*line) continue;
        cJSON* j = cJSON_Parse(line);
        if (!j) { fprintf(stderr, "%s: line %d is not JSON\n", path, *n + 1); exit(2); }
        if (*n == cap) { cap = cap ? cap * 2 : 256; out = xrealloc(out, sizeof(cJSON*) * (size_t)cap); }
        out[(*n)++] = j;
    }
    free(text);
    return out;
}

// Whether p[0..n) is whole UTF-8 characters (utf8proc rejects partial and invalid sequences).
static int utf8_check(const char* p, size_t n) {
    size_t i = 0;
    while (i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t l = utf8proc_iterate((const utf8proc_uint8_t*)p + i, (utf8proc_ssize_t)(n - i), &cp);
        if (l <= 0) return 0;
        i += (size_t)l;
    }
    return 1;
}

typedef struct {
    int bad, shown;
    const char* label;
} Check;

static void fail_note(Check* c, int i, const char* text, const char* what) {
    c->bad++;
    if (c->shown++ < 5) {
        char* q = quote(text);
        printf("#   string %d %s: %s\n", i + 1, q, what);
        free(q);
    }
}

// Notes a failure of c unless ids[0..n) are the reference's ids.
static void check_ids(Check* c, int i, const char* text, const cJSON* want_ids, const int* ids, int n) {
    if (ids_equal(want_ids, ids, n)) return;
    char* want = cJSON_PrintUnformatted(want_ids);
    char* got = NULL;
    size_t gl = 0;
    FILE* f = open_memstream(&got, &gl);
    print_ids(f, ids, n);
    fclose(f);
    char msg[4096];
    snprintf(msg, sizeof msg, "want %.1500s got %.1500s", want, got);
    fail_note(c, i, text, msg);
    free(want);
    free(got);
}

static int report(int* tap, Check* c, const char* name, int total) {
    printf("%s %d - %s: %s for %d/%d strings\n", c->bad ? "not ok" : "ok", (*tap)++, name, c->label, total - c->bad, total);
    return c->bad != 0;
}

static int cmd_check(int argc, char** argv) {
    if (argc != 8) { fprintf(stderr, "usage: tokref_driver check NAME DIR CORPUS EXPECTED exact|nfc|noadded FIRST\n"); return 2; }
    const char *name = argv[2], *dir = argv[3], *mode = argv[6];
    int tap = atoi(argv[7]);
    Tokenizer t;
    Err err;
    double t0 = now_seconds();
    if (tokenizer_load(&t, dir, &err)) { printf("not ok %d - %s: load failed: %s\n", tap, name, err.msg); return 1; }
    printf("# %s: loaded in %.2f s, vocab %d, bos %d, eos %d\n", name, now_seconds() - t0, tokenizer_vocab_size(&t), t.bos_id, t.eos_id);
    int nc, ne;
    cJSON** corpus = read_jsonl(argv[4], &nc);
    cJSON** exp = read_jsonl(argv[5], &ne);
    if (nc != ne) { printf("not ok %d - %s: corpus has %d lines, expected file %d\n", tap, name, nc, ne); return 1; }
    Check ca = {0, 0, "ids with special tokens identical to the reference"};
    Check cb = {0, 0, "ids without special tokens identical to the reference"};
    Check cd = {0, 0, "decode identical to the reference (with and without skip_special)"};
    Check cs = {0, 0, "streaming decode identical to full decode"};
    Check cr = {0, 0, "decode(encode(text)) gives the text back exactly"};
    int n_rt = 0;
    t0 = now_seconds();
    for (int i = 0; i < nc; i++) {
        const char* text = corpus[i]->valuestring;
        size_t len = strlen(text);
        const cJSON* e = exp[i];
        int *a, *b, na, nb;
        if (tokenizer_encode(&t, text, len, 1, &a, &na, &err) || tokenizer_encode(&t, text, len, 0, &b, &nb, &err)) {
            fail_note(&ca, i, text, err.msg);
            continue;
        }
        check_ids(&ca, i, text, cJSON_GetObjectItem(e, "a"), a, na);
        check_ids(&cb, i, text, cJSON_GetObjectItem(e, "b"), b, nb);
        char msg[4096];
        // decode the reference's ids, so decoding is checked even where encoding differs
        int nea, neb;
        int* ea = json_ids(cJSON_GetObjectItem(e, "a"), &nea);
        int* eb = json_ids(cJSON_GetObjectItem(e, "b"), &neb);
        char* da = tokenizer_decode(&t, ea, nea, 0);
        char* das = tokenizer_decode(&t, ea, nea, 1);
        char* db = tokenizer_decode(&t, eb, neb, 0);
        const char* wa = cJSON_GetObjectItem(e, "da")->valuestring;
        const char* was = cJSON_GetObjectItem(e, "das")->valuestring;
        const char* wb = cJSON_GetObjectItem(e, "db")->valuestring;
        if (strcmp(da, wa) || strcmp(das, was) || strcmp(db, wb)) {
            const char* w = strcmp(da, wa) ? wa : strcmp(das, was) ? was : wb;
            const char* g = strcmp(da, wa) ? da : strcmp(das, was) ? das : db;
            char* qw = quote(w);
            char* qg = quote(g);
            snprintf(msg, sizeof msg, "want %.1500s got %.1500s", qw, qg);
            fail_note(&cd, i, text, msg);
            free(qw);
            free(qg);
        }
        // streaming: one id at a time
        TokenStream ts;
        token_stream_init(&ts, &t, 0);
        char* acc = NULL;
        size_t al = 0;
        FILE* f = open_memstream(&acc, &al);
        for (int k = 0; k < nea; k++) {
            size_t pl;
            const char* p = token_stream_push(&ts, ea[k], &pl);
            if (!utf8_check(p, pl)) fail_note(&cs, i, text, "a push returned a partial UTF-8 character");
            fwrite(p, 1, pl, f);
        }
        size_t pl;
        const char* p = token_stream_flush(&ts, &pl);
        fwrite(p, 1, pl, f);
        fclose(f);
        if (strcmp(acc, da)) fail_note(&cs, i, text, "streamed text differs from tokenizer_decode");
        free(acc);
        token_stream_free(&ts);
        // round trip of slimscope's own encoding without special tokens
        int want_rt = strcmp(mode, "noadded") != 0 || !cJSON_IsTrue(cJSON_GetObjectItem(e, "added"));
        if (want_rt) {
            n_rt++;
            char* back = tokenizer_decode(&t, b, nb, 0);
            char* expect = strcmp(mode, "nfc") == 0 ? (char*)utf8proc_NFC((const utf8proc_uint8_t*)text) : xstrdup(text);
            if (strcmp(back, expect)) {
                char* qg = quote(back);
                snprintf(msg, sizeof msg, "decoded to %.1500s", qg);
                fail_note(&cr, i, text, msg);
                free(qg);
            }
            free(back);
            free(expect);
        }
        free(da); free(das); free(db); free(ea); free(eb); free(a); free(b);
    }
    printf("# %s: %d strings checked in %.2f s\n", name, nc, now_seconds() - t0);
    int bad = 0;
    bad |= report(&tap, &ca, name, nc);
    bad |= report(&tap, &cb, name, nc);
    bad |= report(&tap, &cd, name, nc);
    bad |= report(&tap, &cs, name, nc);
    bad |= report(&tap, &cr, name, n_rt);
    for (int i = 0; i < nc; i++) { cJSON_Delete(corpus[i]); cJSON_Delete(exp[i]); }
    free(corpus);
    free(exp);
    tokenizer_free(&t);
    return bad;
}

static int cmd_bench(int argc, char** argv) {
    if (argc != 4) { fprintf(stderr, "usage: tokref_driver bench DIR TEXT_FILE\n"); return 2; }
    Tokenizer t;
    Err err;
    if (tokenizer_load(&t, argv[2], &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    size_t len;
    char* text = read_file_text(argv[3], &len, &err);
    if (!text) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t0 = now_seconds(), el;
    size_t bytes = 0, tokens = 0;
    do {
        int* ids;
        int n;
        if (tokenizer_encode(&t, text, len, 0, &ids, &n, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        bytes += len;
        tokens += (size_t)n;
        free(ids);
        el = now_seconds() - t0;
    } while (el < 1.0);
    printf("encode: %.1f MB/s (%zu bytes -> %zu tokens per pass, %.2f bytes/token)\n", bytes / el / 1e6, len,
           tokens * len / bytes, (double)bytes / (double)tokens);
    free(text);
    tokenizer_free(&t);
    return 0;
}

static int cmd_ids(int argc, char** argv) {
    if (argc != 4) { fprintf(stderr, "usage: tokref_driver ids DIR TEXT\n"); return 2; }
    Tokenizer t;
    Err err;
    if (tokenizer_load(&t, argv[2], &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    for (int sp = 1; sp >= 0; sp--) {
        int *ids, n;
        if (tokenizer_encode(&t, argv[3], strlen(argv[3]), sp, &ids, &n, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
        print_ids(stdout, ids, n);
        printf("  ");
        for (int i = 0; i < n; i++) printf("%s|", tokenizer_piece(&t, ids[i]));
        char* d = tokenizer_decode(&t, ids, n, 0);
        printf("  -> \"%s\"\n", d);
        free(d);
        free(ids);
    }
    tokenizer_free(&t);
    return 0;
}

static int cmd_train(int argc, char** argv) {
    if (argc != 5) { fprintf(stderr, "usage: tokref_driver train CORPUS.jsonl VOCAB OUT_DIR\n"); return 2; }
    int n;
    cJSON** corpus = read_jsonl(argv[2], &n);
    char* text = NULL;
    size_t len = 0;
    FILE* f = open_memstream(&text, &len);
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s\n\n", corpus[i]->valuestring);
        cJSON_Delete(corpus[i]);
    }
    fclose(f);
    free(corpus);
    BpeTrainStats st;
    Err err;
    int rc = bpe_train(text, len, atoi(argv[3]), argv[4], &st, &err);
    free(text);
    if (rc) { printf("# train failed: %s\n", err.msg); return 1; }
    printf("# trained %d tokens (%d merges) on %zu bytes, %zu words, %zu types in %.2f s\n", st.vocab_size, st.n_merges, len,
           st.n_words, st.n_types, st.seconds);
    return 0;
}

int main(int argc, char** argv) {
    if (argc >= 2 && strcmp(argv[1], "train") == 0) return cmd_train(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "check") == 0) return cmd_check(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "bench") == 0) return cmd_bench(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "ids") == 0) return cmd_ids(argc, argv);
    fprintf(stderr, "usage: tokref_driver check|bench|ids|train ...\n");
    return 2;
}
