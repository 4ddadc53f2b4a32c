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

#endif
