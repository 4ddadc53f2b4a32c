// cmd_tokenize.c: `slimscope tokenize`: text (or a file) to token ids as a JSON array, ids back
// to text, and an encode-throughput figure for `make bench`. Needs only the tokenizer files of a
// model directory (tokenizer.json, optionally tokenizer_config.json), no weights.
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "tokenizer.h"

typedef struct {
    const char *model, *text, *file, *decode;
    int no_special, bench;
} TokenizeArgs;

#define F(field) offsetof(TokenizeArgs, field)
static const Option TOKENIZE_OPTIONS[] = {
    {"model", OPT_STR, F(model), "DIR", "directory holding tokenizer.json (and optionally tokenizer_config.json)"},
    {"text", OPT_STR, F(text), "TEXT", "encode TEXT; prints the ids as a JSON array"},
    {"file", OPT_STR, F(file), "FILE", "encode the contents of FILE (-: standard input)"},
    {"decode", OPT_STR, F(decode), "IDS", "decode comma-separated ids (\"1,2,3\" or \"[1, 2, 3]\") and print the text"},
    {"no-special", OPT_FLAG, F(no_special), NULL,
     "encode without the special tokens the tokenizer adds around a text (BOS/EOS); with --decode, leave them out"},
    {"bench", OPT_FLAG, F(bench), NULL, "with --text or --file: encode repeatedly for a second, print MB/s"},
    {NULL},
};
#undef F

// Parses "1,2,3" or "[1, 2, 3]" into ids; returns the count or -1 with a message.
static int parse_ids(const char* s, int** out, int vocab, char* msg, size_t n) {
    int cap = 16, cnt = 0;
    int* ids = xmalloc(sizeof(int) * (size_t)cap);
    const char* p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == ',' || *p == '[' || *p == ']') p++;
        if (!*p) break;
        char* end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || (*end && !strchr(" \t\n,[]", *end))) {
            int len = (int)strcspn(p, " \t\n,[]");
            snprintf(msg, n, "tokenize: --decode: '%.*s' is not a token id", len > 40 ? 40 : len, p);
            free(ids);
            return -1;
        }
        if (v < 0 || v >= vocab) {
            snprintf(msg, n, "tokenize: --decode: id %ld is outside the vocabulary (%d tokens)", v, vocab);
            free(ids);
            return -1;
        }
        if (cnt == cap) ids = xrealloc(ids, sizeof(int) * (size_t)(cap *= 2));
        ids[cnt++] = (int)v;
        p = end;
    }
    *out = ids;
    return cnt;
}

int cmd_tokenize(int argc, char** argv) {
    TokenizeArgs A;
    memset(&A, 0, sizeof A);
    OptionSet set = {TOKENIZE_OPTIONS, &A, NULL};
    int done_status = options_begin("tokenize", &set, 1, argc, argv,
                                    "usage: slimscope tokenize --model DIR (--text TEXT | --file FILE | --decode IDS) [options]\n");
    if (done_status >= 0) return done_status;
    const char *model = A.model, *text = A.text, *file = A.file, *decode = A.decode;
    int no_special = A.no_special, bench = A.bench;
    if (!model) { fprintf(stderr, "tokenize: --model DIR is required (see slimscope tokenize --help)\n"); return 1; }
    if ((text != NULL) + (file != NULL) + (decode != NULL) != 1) {
        fprintf(stderr, "tokenize: give exactly one of --text, --file, --decode\n");
        return 1;
    }
    if (bench && decode) { fprintf(stderr, "tokenize: --bench measures encoding: use it with --text or --file\n"); return 1; }
    Tokenizer t;
    Err err;
    if (tokenizer_load(&t, model, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    int rc = 0;
    if (decode) {
        int* ids;
        char msg[256];
        int n = parse_ids(decode, &ids, tokenizer_vocab_size(&t), msg, sizeof msg);
        if (n < 0) {
            fprintf(stderr, "%s\n", msg);
            rc = 1;
        } else {
            char* s = tokenizer_decode(&t, ids, n, no_special);
            printf("%s\n", s);
            free(s);
            free(ids);
        }
        tokenizer_free(&t);
        return rc;
    }
    size_t len = 0;
    char* buf = NULL;
    if (file) {
        buf = read_file_text(file, &len, &err);
        if (!buf) { fprintf(stderr, "%s\n", err.msg); tokenizer_free(&t); return 1; }
        text = buf;
    } else len = strlen(text);
    int* ids;
    int n;
    if (bench && len == 0) {
        fprintf(stderr, "tokenize: --bench needs a non-empty text\n");
        rc = 1;
    } else if (bench) {
        // Whole encodes repeated for at least a second (the machines are shared: take the mean).
        double t0 = now_seconds(), el = 0;
        size_t bytes = 0, tokens = 0;
        do {
            if (tokenizer_encode(&t, text, len, !no_special, &ids, &n, &err)) break;
            free(ids);
            bytes += len;
            tokens += (size_t)n;
            el = now_seconds() - t0;
        } while (el < 1.0);
        if (bytes == 0) { fprintf(stderr, "%s\n", err.msg); rc = 1; }
        else printf("tokenize: encode %.1f MB/s (%zu bytes, %zu tokens, %.2f bytes per token, %s)\n", bytes / el / 1e6,
                    len, tokens * len / bytes, (double)bytes / (double)tokens, model);
    } else if (tokenizer_encode(&t, text, len, !no_special, &ids, &n, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        rc = 1;
    } else {
        putchar('[');
        for (int i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
        printf("]\n");
        free(ids);
    }
    free(buf);
    tokenizer_free(&t);
    return rc;
}
