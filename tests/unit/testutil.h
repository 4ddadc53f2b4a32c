// testutil.h: shared test helpers. Every unit test is a cmocka binary; tests/run_tests.sh runs them.
#ifndef SLIMSCOPE_TESTUTIL_H
#define SLIMSCOPE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weight.h"

// Element i of W (row-major) as float32, through the engine's row widening.
static inline float weight_at(const Weight* w, size_t i) {
    float* row = malloc(w->cols * sizeof(float));
    weight_row(row, w, (int)(i / w->cols));
    float v = row[i % w->cols];
    free(row);
    return v;
}

// Fails with a label and the observed maximum difference when |a - b| > tol anywhere.
static inline void assert_close_f(const float* a, const float* b, size_t n, double tol, const char* label) {
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) { worst = d; at = i; }
    }
    if (!(worst <= tol)) fail_msg("%s: max abs diff %g at %zu (%g vs %g), tolerance %g", label, worst, at, a[at], b[at], tol);
}

// Creates a fresh temporary directory; the caller's buffer must hold at least 64 bytes.
static inline char* test_tmpdir(char* buf) {
    strcpy(buf, "/tmp/slimscope-test-XXXXXX");
    if (!mkdtemp(buf)) fail_msg("mkdtemp failed");
    return buf;
}

static inline void test_rmrf(const char* dir) {
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

// Runs a shell command, captures stdout+stderr into out (size n), returns the exit status.
static inline int test_run(const char* cmd, char* out, size_t n) {
    char full[4200];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE* p = popen(full, "r");
    if (!p) return -1;
    size_t len = fread(out, 1, n - 1, p);
    out[len] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// Writes text to path (the test fails when the file cannot be written).
static inline void test_write_file(const char* path, const char* text) {
    FILE* f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

// GPT-2's bytes_to_unicode: the character that stands for byte b in a byte-level vocab.
static inline int test_byte_char(int b) {
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    int n = 0;
    for (int c = 0; c < b; c++)
        if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) n++;
    return 256 + n;
}

// Writes DIR/tokenizer.json + tokenizer_config.json of a byte-level tokenizer with one token per
// byte (id = byte value), no merges, and "<|endoftext|>" = 256 as EOS: expected ids are the bytes.
static inline void test_write_byte_tokenizer(const char* dir) {
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE* f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "{\"added_tokens\": [{\"id\": 256, \"content\": \"<|endoftext|>\", \"single_word\": false, \"lstrip\": false,"
               " \"rstrip\": false, \"normalized\": false, \"special\": true}],\n \"normalizer\": null,\n"
               " \"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true},\n"
               " \"post_processor\": null,\n \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n"
               " \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, \"fuse_unk\": false, \"byte_fallback\": false,\n \"vocab\": {");
    for (int b = 0; b < 256; b++) {
        int c = test_byte_char(b);
        char u[8];
        if (c < 0x80)
            u[0] = (char)c, u[1] = 0;
        else
            u[0] = (char)(0xC0 | (c >> 6)), u[1] = (char)(0x80 | (c & 63)), u[2] = 0;
        fprintf(f, "%s\"%s%s\": %d", b ? ", " : "", (c == '"' || c == '\\') ? "\\" : "", u, b);
    }
    fprintf(f, "},\n \"merges\": []}}\n");
    assert_int_equal(fclose(f), 0);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    test_write_file(path, "{\"eos_token\": \"<|endoftext|>\"}\n");
}

#endif
