// test_train_data.c: training data (core/data.c) with a byte-level tokenizer written by the test
// (one token per byte, id = byte value, "<|endoftext|>" = 256), so expected token ids are the
// bytes of the text: documents, the held-out split by document, training windows, validation
// windows, prompt/response JSONL with loss on the response only, bad lines, and the sampler.
#include "data.h"
#include "testutil.h"

static void write_text(const char* dir, const char* name, const char* text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    test_write_file(path, text);
}

typedef struct {
    char dir[64];
    Tokenizer tok;
} Fx;

static int setup(void** state) {
    Fx* fx = calloc(1, sizeof *fx);
    test_tmpdir(fx->dir);
    test_write_byte_tokenizer(fx->dir);
    Err err;
    if (tokenizer_load(&fx->tok, fx->dir, &err)) {
        fprintf(stderr, "tokenizer: %s\n", err.msg);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown(void** state) {
    Fx* fx = *state;
    tokenizer_free(&fx->tok);
    test_rmrf(fx->dir);
    free(fx);
    return 0;
}

// Splits a stream at EOS (256) into NUL-terminated strings appended to out.
static int split_stream(const int* s, size_t n, char out[][64], int k) {
    char cur[64];
    int len = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == 256) {
            cur[len] = 0;
            strcpy(out[k++], cur);
            len = 0;
        } else {
            cur[len++] = (char)s[i];
        }
    }
    return k;
}

static void test_documents_and_split(void** state) {
    Fx* fx = *state;
    // 40 documents separated by <|endoftext|> lines; blank lines inside a document stay inside
    char text[8192] = "", docs[40][64];
    for (int i = 0; i < 40; i++) {
        snprintf(docs[i], sizeof docs[i], "doc %d line\n\nsecond para %d", i, i * 7);
        strcat(text, docs[i]);
        if (i < 39) strcat(text, "\n<|endoftext|>\n");
    }
    write_text(fx->dir, "corpus.txt", text);
    char path[128];
    snprintf(path, sizeof path, "%s/corpus.txt", fx->dir);
    TextData d;
    Err err;
    assert_int_equal(text_data_load(&d, path, &fx->tok, NULL, 0.25f, 7, fx->tok.eos_id, &err), 0);
    assert_int_equal(fx->tok.eos_id, 256);
    assert_int_equal(d.n_docs, 40);
    assert_true(d.n_val_docs > 3 && d.n_val_docs < 20);
    // every document appears exactly once, whole, in one of the two streams
    char got[80][64];
    int k = split_stream(d.train, d.n_train, got, 0);
    int kt = k;
    k = split_stream(d.val, d.n_val, got, k);
    assert_int_equal(k, 40);
    assert_int_equal(k - kt, d.n_val_docs);
    for (int i = 0; i < 40; i++) {
        int found = 0;
        for (int j = 0; j < k; j++) found += strcmp(got[j], docs[i]) == 0;
        if (found != 1) fail_msg("document %d found %d times", i, found);
    }
    // the same split on every run; another seed gives another split
    TextData d2, d3;
    assert_int_equal(text_data_load(&d2, path, &fx->tok, NULL, 0.25f, 7, 256, &err), 0);
    assert_int_equal(d2.n_val, d.n_val);
    assert_memory_equal(d2.val, d.val, d.n_val * sizeof(int));
    assert_int_equal(text_data_load(&d3, path, &fx->tok, NULL, 0.25f, 8, 256, &err), 0);
    assert_true(d3.n_val != d.n_val || memcmp(d3.val, d.val, d.n_val * sizeof(int)) != 0);
    // blank-line documents when there is no <|endoftext|> line; no held-out set with fraction 0
    write_text(fx->dir, "paras.txt", "one\n\ntwo two\n\n\n\nthree\n");
    snprintf(path, sizeof path, "%s/paras.txt", fx->dir);
    TextData p;
    assert_int_equal(text_data_load(&p, path, &fx->tok, NULL, 0.0f, 7, 256, &err), 0);
    assert_int_equal(p.n_docs, 3);
    assert_int_equal(p.n_val, 0);
    int want[] = {'o', 'n', 'e', 256, 't', 'w', 'o', ' ', 't', 'w', 'o', 256, 't', 'h', 'r', 'e', 'e', 256};
    assert_int_equal(p.n_train, 18);
    assert_memory_equal(p.train, want, sizeof want);
    // --val-data appends a file's documents to the held-out stream
    assert_int_equal(text_data_load_val(&p, path, &fx->tok, NULL, 256, &err), 0);
    assert_int_equal(p.n_val, 18);
    // errors name the file; a failed load leaves its own (fresh) struct empty
    TextData e;
    assert_int_equal(text_data_load(&e, "/nonexistent/x.txt", &fx->tok, NULL, 0.1f, 1, 256, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/x.txt"));
    assert_null(e.train);
    assert_null(e.val);
    text_data_free(&d), text_data_free(&d2), text_data_free(&d3), text_data_free(&p);
}

static void test_windows(void** state) {
    TextData d;
    int a[300], b[100];
    for (int i = 0; i < 300; i++) a[i] = i;
    for (int i = 0; i < 100; i++) b[i] = 1000 + i;
    int* docs[2] = {a, b};
    int lens[2] = {300, 100};
    text_data_from_docs(&d, docs, lens, 2, 0.0f, 1, -1);
    Batch bt = {4, 16, calloc(64, sizeof(int)), calloc(64, sizeof(int)), NULL};
    Rng r;
    rng_seed(&r, 3);
    for (int it = 0; it < 50; it++) {
        text_data_sample(&d, &bt, &r);
        for (int i = 0; i < 4; i++) {
            // a window of the stream: consecutive positions, targets shifted by one
            int s = bt.tokens[i * 16];
            size_t pos = 0;
            while (d.train[pos] != s) pos++;
            for (int t = 0; t < 16; t++) {
                assert_int_equal(bt.tokens[i * 16 + t], d.train[pos + t]);
                assert_int_equal(bt.targets[i * 16 + t], d.train[pos + t + 1]);
            }
        }
    }
    free(bt.tokens), free(bt.targets);
    text_data_free(&d);
    // validation windows: fixed, non-overlapping, spread over the held-out stream
    text_data_from_docs(&d, docs, lens, 2, 0.0f, 1, -1);
    d.val = malloc(200 * sizeof(int));
    for (int i = 0; i < 200; i++) d.val[i] = 5000 + i;
    d.n_val = 200;
    Batch* vb;
    int nb = text_data_val_batches(&d, 2, 10, 3, &vb);
    assert_int_equal(nb, 3);
    int starts[6];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 2; i++) {
            starts[k * 2 + i] = vb[k].tokens[i * 10] - 5000;
            for (int t = 0; t < 10; t++) assert_int_equal(vb[k].targets[i * 10 + t], vb[k].tokens[i * 10 + t] + 1);
        }
    for (int i = 1; i < 6; i++) assert_true(starts[i] >= starts[i - 1] + 10);
    assert_true(starts[5] > 100);  // spread, not bunched at the start
    batches_free(vb, nb);
    text_data_free(&d);
}

static void test_jsonl(void** state) {
    Fx* fx = *state;
    write_text(fx->dir, "good.jsonl",
               "{\"prompt\": \"ab\", \"response\": \"cd\"}\n\n{\"prompt\": \"x=\", \"response\": \"1\", \"other\": 3}\n");
    char path[128];
    snprintf(path, sizeof path, "%s/good.jsonl", fx->dir);
    SftData d;
    Err err;
    assert_int_equal(sft_data_load(&d, path, &fx->tok, 256, 0, &err), 0);
    assert_int_equal(d.n, 2);
    int want0[] = {'a', 'b', 'c', 'd', 256};
    assert_int_equal(d.off[1] - d.off[0], 5);
    assert_memory_equal(d.tokens, want0, sizeof want0);
    assert_int_equal(d.n_prompt[0], 2);
    assert_int_equal(d.n_prompt[1], 2);
    // the batch: inputs are all tokens but the last; only response positions are scored
    SftSampler s;
    sft_sampler_init(&s, &d, 1);
    Batch b = {0, 0, calloc(2 * 16, sizeof(int)), calloc(2 * 16, sizeof(int)), calloc(2, sizeof(int))};
    assert_int_equal(sft_next_batch(&s, &d, &b, 2, 16), 0);
    assert_int_equal(b.B, 2);
    assert_int_equal(b.T, 8);  // longest input (4) rounded up to 8
    for (int i = 0; i < 2; i++) {
        int ex = b.tokens[i * 8] == 'a' ? 0 : 1;
        if (ex == 0) {
            int tk[] = {'a', 'b', 'c', 'd'}, tg[] = {-1, 'c', 'd', 256};
            assert_memory_equal(b.tokens + i * 8, tk, sizeof tk);
            assert_memory_equal(b.targets + i * 8, tg, sizeof tg);
            assert_int_equal(b.lens[i], 4);
        } else {
            int tk[] = {'x', '=', '1'}, tg[] = {-1, '1', 256};
            assert_memory_equal(b.tokens + i * 8, tk, sizeof tk);
            assert_memory_equal(b.targets + i * 8, tg, sizeof tg);
            assert_int_equal(b.lens[i], 3);
        }
        for (int t = b.lens[i]; t < 8; t++) assert_int_equal(b.targets[i * 8 + t], -1);  // padding is not scored
    }
    // truncation keeps the end (the response): both examples are longer than 2 inputs
    assert_int_equal(sft_next_batch(&s, &d, &b, 2, 2), 2);
    assert_int_equal(b.T, 2);
    for (int i = 0; i < 2; i++) {
        if (b.tokens[i * 2] == 'c') {  // "abcd<eos>": inputs c d, targets d <eos>
            int tk[] = {'c', 'd'}, tg[] = {'d', 256};
            assert_memory_equal(b.tokens + i * 2, tk, sizeof tk);
            assert_memory_equal(b.targets + i * 2, tg, sizeof tg);
        } else {  // "x=1<eos>": inputs = 1, targets 1 <eos>
            int tk[] = {'=', '1'}, tg[] = {'1', 256};
            assert_memory_equal(b.tokens + i * 2, tk, sizeof tk);
            assert_memory_equal(b.targets + i * 2, tg, sizeof tg);
        }
    }
    sft_sampler_free(&s);
    free(b.tokens), free(b.targets), free(b.lens);
    sft_data_free(&d);

    // bad lines: an error naming the line, or skipped with a count
    write_text(fx->dir, "bad.jsonl",
               "{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"a\"}\nnot json\n[1]\n{\"prompt\": 1, \"response\": \"b\"}\n"
               "{\"prompt\": \"c\", \"response\": \"d\"}\n");
    snprintf(path, sizeof path, "%s/bad.jsonl", fx->dir);
    assert_int_equal(sft_data_load(&d, path, &fx->tok, 256, 0, &err), -1);
    assert_non_null(strstr(err.msg, "bad.jsonl:2:"));
    assert_non_null(strstr(err.msg, "\"response\" is missing"));
    assert_int_equal(sft_data_load(&d, path, &fx->tok, 256, 1, &err), 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.n_bad, 4);
    sft_data_free(&d);
    // without BOS and EOS an empty prompt and response give no tokens: refused (batching such an
    // example read before its tokens), or skipped
    write_text(fx->dir, "hollow.jsonl", "{\"prompt\": \"a\", \"response\": \"b\"}\n{\"prompt\": \"\", \"response\": \"\"}\n");
    snprintf(path, sizeof path, "%s/hollow.jsonl", fx->dir);
    assert_int_equal(sft_data_load(&d, path, &fx->tok, -1, 0, &err), -1);
    assert_non_null(strstr(err.msg, "hollow.jsonl:2: \"prompt\" and \"response\" give no tokens"));
    assert_int_equal(sft_data_load(&d, path, &fx->tok, -1, 1, &err), 0);
    assert_int_equal(d.n, 1);
    assert_int_equal(d.n_bad, 1);
    sft_data_free(&d);
    assert_int_equal(sft_data_load(&d, path, &fx->tok, 256, 0, &err), 0);  // with EOS it is one token
    assert_int_equal(d.off[2] - d.off[1], 1);
    sft_data_free(&d);
    write_text(fx->dir, "empty.jsonl", "\n\n");
    snprintf(path, sizeof path, "%s/empty.jsonl", fx->dir);
    assert_int_equal(sft_data_load(&d, path, &fx->tok, 256, 0, &err), -1);
    assert_non_null(strstr(err.msg, "no usable"));
}

static void test_sampler_epochs(void** state) {
    SftData d;
    memset(&d, 0, sizeof d);
    for (int i = 0; i < 10; i++) {
        int ids[3] = {i, 100, 101};
        sft_data_add(&d, ids, 3, 1);
    }
    SftSampler s, s2;
    sft_sampler_init(&s, &d, 5);
    Batch b = {0, 0, calloc(3 * 8, sizeof(int)), calloc(3 * 8, sizeof(int)), NULL};
    int seen[10] = {0}, seq[12];
    for (int k = 0; k < 4; k++) {  // 12 examples: epoch 0 whole, then 2 of epoch 1
        sft_next_batch(&s, &d, &b, 3, 8);
        for (int i = 0; i < 3; i++) {
            seq[k * 3 + i] = b.tokens[i * b.T];
            if (k * 3 + i < 10) seen[b.tokens[i * b.T]]++;
        }
    }
    for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
    assert_int_equal(s.epoch, 1);
    // seeking to a saved (epoch, pos) continues the same sequence
    sft_sampler_init(&s2, &d, 5);
    sft_sampler_seek(&s2, 0, 9);
    sft_next_batch(&s2, &d, &b, 3, 8);
    for (int i = 0; i < 3; i++) assert_int_equal(b.tokens[i * b.T], seq[9 + i]);
    sft_sampler_free(&s), sft_sampler_free(&s2);
    free(b.tokens), free(b.targets);
    sft_data_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_documents_and_split, setup, teardown),
        cmocka_unit_test(test_windows),
        cmocka_unit_test_setup_teardown(test_jsonl, setup, teardown),
        cmocka_unit_test(test_sampler_epochs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
