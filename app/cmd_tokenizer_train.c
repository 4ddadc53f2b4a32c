// cmd_tokenizer_train.c: `slimscope tokenizer-train`: trains a byte-level BPE tokenizer on a text
// file and writes tokenizer.json + tokenizer_config.json into a directory (see core/bpe_train.h).
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bpe_train.h"
#include "commands.h"
#include "options.h"

typedef struct {
    const char *data, *out;
    int vocab;
} TokTrainArgs;

static const Option TOKENIZER_TRAIN_OPTIONS[] = {
    {"data", OPT_STR, offsetof(TokTrainArgs, data), "FILE",
     "UTF-8 training text (\"<|endoftext|>\" in it separates documents and is not learned as text)"},
    {"vocab", OPT_INT, offsetof(TokTrainArgs, vocab), "N",
     "vocabulary size including the 256 bytes and the special tokens \"<|endoftext|>\" (bos/eos) and "
     "\"<|pad|>\"; typically 2048..8192", 0, IN_RANGE(BPE_TRAIN_MIN_VOCAB, BPE_TRAIN_MAX_VOCAB)},
    {"out", OPT_STR, offsetof(TokTrainArgs, out), "DIR", "where tokenizer.json and tokenizer_config.json are written (created)"},
    {NULL},
};

int cmd_tokenizer_train(int argc, char** argv) {
    TokTrainArgs A;
    memset(&A, 0, sizeof A);
    OptionSet set = {TOKENIZER_TRAIN_OPTIONS, &A, NULL};
    int done_status = options_begin("tokenizer-train", &set, 1, argc, argv, "usage: slimscope tokenizer-train --data FILE --vocab N --out DIR\n");
    if (done_status >= 0) return done_status;
    const char *data = A.data, *out = A.out;
    int n = A.vocab;
    if (!data || !n || !out) {
        fprintf(stderr, "tokenizer-train: --data FILE, --vocab N and --out DIR are required\n");
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
        printf("tokenizer-train: stopped below %d tokens: no pair of tokens occurs twice any more in %s\n", n, data);
    return 0;
}
