// fuzz_jsonl.c: libFuzzer target for the dataset readers (core/data.c). The input is written to a
// file and read as prompt/response JSONL, strictly and with bad lines skipped, with the demo's
// tokenizer and EOS (the fine-tuning path) and with a small tokenizer that adds no BOS, without an
// EOS; then as plain text (the pretraining path). What loads is batched as training would, and
// every token and target checked to be an id of the vocabulary (or -1, not scored).
// Run from the repository root. Seeds: tests/fuzz/jsonl_seeds/.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data.h"
#include "input.h"

static Tokenizer g_demo, g_small;

static void load_or_die(Tokenizer* t, const char* json_path) {
    Err err;
    if (tokenizer_load_files(t, json_path, NULL, &err)) {
        fprintf(stderr, "fuzz_jsonl: %s (run it from the repository root)\n", err.msg);
        exit(1);
    }
}

int LLVMFuzzerInitialize(int* argc, char*** argv) {
    load_or_die(&g_demo, "models/demo/base/tokenizer.json");
    load_or_die(&g_small, "tests/fuzz/tokenizer_seeds/metaspace.json");
    return 0;
}

static void check_batch(const Batch* b, int V, int max_T) {
    if (b->T < 0 || b->T > max_T) abort();
    for (int i = 0; i < b->B * b->T; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= V) abort();
        if (b->targets[i] < -1 || b->targets[i] >= V) abort();
    }
    for (int i = 0; b->lens && i < b->B; i++)
        if (b->lens[i] < 0 || b->lens[i] > b->T) abort();
}

static void sft(const char* path, const Tokenizer* tok, int eos, int skip_bad) {
    SftData d;
    Err err;
    if (sft_data_load(&d, path, tok, eos, skip_bad, &err)) return;
    enum { B = 3, MAX_T = 16 };
    int tokens[B * MAX_T], targets[B * MAX_T], lens[B];
    Batch b = {B, MAX_T, tokens, targets, lens};
    SftSampler s;
    sft_sampler_init(&s, &d, 7);
    for (int k = 0; k < 2; k++) {
        sft_next_batch(&s, &d, &b, B, MAX_T);
        check_batch(&b, tokenizer_vocab_size(tok), MAX_T);
    }
    sft_sampler_free(&s);
    sft_data_free(&d);
}

static void text(const char* path, const Tokenizer* tok, int eos) {
    TextData d;
    Err err;
    if (text_data_load(&d, path, tok, NULL, 0.5f, 3, eos, &err)) return;
    enum { B = 2, T = 8 };
    int tokens[B * T], targets[B * T];
    Batch b = {B, T, tokens, targets, NULL};
    Rng rng;
    rng_seed(&rng, 5);
    if (d.n_train > 0) {
        text_data_sample(&d, &b, &rng);
        check_batch(&b, tokenizer_vocab_size(tok), T);
    }
    Batch* vb;
    int nb = text_data_val_batches(&d, B, T, 2, &vb);
    for (int i = 0; i < nb; i++) check_batch(&vb[i], tokenizer_vocab_size(tok), T);
    if (nb) batches_free(vb, nb);
    text_data_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz-jsonl-%d.jsonl", (int)getpid());
    if (fuzz_write(path, data, size)) return 0;
    int eos = tokenizer_token_to_id(&g_demo, "<|endoftext|>");
    for (int skip_bad = 0; skip_bad <= 1; skip_bad++) {
        sft(path, &g_demo, eos, skip_bad);
        sft(path, &g_small, -1, skip_bad);
    }
    text(path, &g_demo, eos);
    unlink(path);
    return 0;
}
