// train_cli.c: what train, pretrain and eval share besides their option tables: dtype names,
// checkpoint lookup, the recipe check of --resume, and stopping cleanly on Ctrl-C.
#include "train_cli.h"

#include "ops.h"
#include "settings.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const DType DTYPE_OF_CHOICE[3] = {DT_F32, DT_F16, DT_BF16};

int train_options_begin(const char* cmd, const Option* table, void* args, int argc, char** argv, const char* usage) {
    Settings threads_opt;  // --threads, by the rule of every command
    settings_defaults(&threads_opt, cmd);
    OptionSet sets[] = {{table, args, NULL}, settings_options(&threads_opt, "threads")};
    int rc = options_begin(cmd, sets, 2, argc, argv, usage);
    if (rc < 0 && threads_opt.threads > 0) ops_set_threads(threads_opt.threads);
    return rc;
}

void remove_stale_tmp_files(const char* out, const char* resume) {
    const char* dirs[2] = {out, resume && strcmp(resume, out) ? resume : NULL};
    for (int i = 0; i < 2 && dirs[i]; i++) {
        char ck[4200];
        snprintf(ck, sizeof ck, "%s/checkpoint", dirs[i]);
        int n = atomic_remove_stale(dirs[i]) + atomic_remove_stale(ck);
        if (n) fprintf(stderr, "removed %d temporary file%s left in %s by a run that was killed while writing\n", n, n > 1 ? "s" : "", dirs[i]);
    }
}

void final_write_failed(Err* err, const char* what, const char* out, const char* ckpt_path, int ckpt_step) {
    Err first = *err;
    if (ckpt_step >= 0)
        err_set(err, "%s; the %s was not written: `--resume %s` continues from the checkpoint of step %d (%s)", first.msg,
                what, out, ckpt_step, ckpt_path);
    else
        err_set(err, "%s; the %s was not written and no checkpoint exists (--ckpt-every N writes them)", first.msg, what);
}

// Resolves --resume DIR to DIR/checkpoint.bin or DIR/checkpoint/checkpoint.bin.
int checkpoint_locate(const char* dir, char* path, size_t n, Err* err) {
    snprintf(path, n, "%s/checkpoint.bin", dir);
    if (file_exists(path)) return 0;
    snprintf(path, n, "%s/checkpoint/checkpoint.bin", dir);
    if (file_exists(path)) return 0;
    return err_set(err, "--resume %s: no checkpoint.bin there (nor in %s/checkpoint/)", dir, dir);
}

// Compares the recipe lines ("arg.NAME=VALUE") of a checkpoint with this run's.
int recipe_check(const char* saved, const char* now, Err* err) {
    for (const char* p = now; p && *p;) {
        const char* eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        const char* eq = memchr(p, '=', len);
        if (eq && !strncmp(p, "arg.", 4)) {
            char key[128], want[256];
            snprintf(key, sizeof key, "%.*s", (int)(eq - p), p);
            snprintf(want, sizeof want, "%.*s", (int)(len - (eq - p) - 1), eq + 1);
            char buf[256];
            const char* had = kv_get(saved, key, buf, sizeof buf);
            if (!had || strcmp(had, want) != 0)
                return err_set(err, "--resume: the checkpoint was made with --%s %s, this run has %s; resume with the same "
                               "settings", key + 4, had ? had : "(unset)", want);
        }
        p = eol ? eol + 1 : NULL;
    }
    return 0;
}

volatile sig_atomic_t g_train_stop = 0;
static void on_sigint(int sig) {
    (void)sig;
    g_train_stop = 1;
}
void train_catch_sigint(void) { signal(SIGINT, on_sigint); }

// ---------------------------------------------------------------------------------------------
// slimscope train
