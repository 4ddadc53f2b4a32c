// cmd_tokenizer_train.c: `slimscope tokenizer-train`: trains a byte-level BPE tokenizer on a text
// file and writes tokenizer.json + tokenizer_config.json into a directory (see core/bpe_train.h).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bpe_train.h"
#include "commands.h"

static void usage(FILE* f) {
    fprintf(f,
            "usage: slimscope tokenizer-train --data FILE --vocab N --out DIR\n\n"
            "  --data FILE   UTF-8 training text (\"<|endoftext|>\" in it separates documents and is not\n"
            "                learned as text)\n"
            "  --vocab N     vocabulary size including the 256 bytes and the special tokens\n"
            "                \"<|endoftext|>\" (bos/eos) and \"<|pad|>\"; typically 2048..8192\n"
            "  --out DIR     where tokenizer.json and tokenizer_config.json are written (created)\n"
            "  --help        this text\n");
}

int cmd_tokenizer_train(int argc, char** argv) {
    const char *data = NULL, *vocab = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        const char** val = !strcmp(a, "--data") ? &data : !strcmp(a, "--vocab") ? &vocab : !strcmp(a, "--out") ? &out : NULL;
        if (val) {
            if (i + 1 >= argc) { fprintf(stderr, "tokenizer-train: %s needs a value\n", a); return 1; }
            *val = argv[++i];
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else { fprintf(stderr, "tokenizer-train: unknown option '%s' (see slimscope tokenizer-train --help)\n", a); return 1; }
    }
    if (!data || !vocab || !out) {
        fprintf(stderr, "tokenizer-train: --data FILE, --vocab N and --out DIR are required\n");
        return 1;
    }
    char* end;
    errno = 0;
    long n = strtol(vocab, &end, 10);
    if (end == vocab || *end || errno || n < BPE_TRAIN_MIN_VOCAB || n > BPE_TRAIN_MAX_VOCAB) {
        fprintf(stderr, "tokenizer-train: --vocab '%s': expected a whole number in %d..%d\n", vocab, BPE_TRAIN_MIN_VOCAB,
                BPE_TRAIN_MAX_VOCAB);
        return 1;
    }
    Err err;
    size_t len;
    char* text = read_file_text(data, &len, &err);
    if (!text) { fprintf(stderr, "%s\n", err.msg); return 1; }
    BpeTrainStats st;
    int rc = bpe_train(text, len, (int)n, out, &st, &err);
    free(text);
    if (rc) { fprintf(stderr, "%s\n", err.msg); return 1; }
    printf("tokenizer-train: %d tokens (%d merges) from %.2f MB, %zu words of %zu kinds, in %.2f s -> %s/tokenizer.json\n",
           st.vocab_size, st.n_merges, len / 1e6, st.n_words, st.n_types, st.seconds, out);
    if (st.vocab_size < n)
        printf("tokenizer-train: stopped below %ld tokens: no pair of tokens occurs twice any more in %s\n", n, data);
    return 0;
}
