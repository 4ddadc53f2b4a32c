// train_io.c: what surrounds the training loop: checkpoints (one file, written to a temporary
// name and renamed, holding parameters, AdamW moments, cluster variances, the step and a text blob
// of the caller's state), the progress line and CSV log.
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "train.h"

// ---------------------------------------------------------------------------------------------
// checkpoints: "SLIMCKPT", u32 version, u32 method, u64 n_params, u64 n_var, u64 step,
// i32 clusters_ready, i32 0, u64 extra_len, extra, then float32 params, adam_m, adam_v, cluster var

#define CKPT_MAGIC "SLIMCKPT"
#define CKPT_VERSION 1u

typedef struct {
    char magic[8];
    uint32_t version, method;
    uint64_t n_params, n_var, step;
    int32_t clusters_ready, reserved;
    uint64_t extra_len;
} CkptHeader;

static size_t cluster_var_size(const Trainer* t) {
    return t->cluster_var ? (size_t)t->L * t->adapter->n_clusters * t->C : 0;
}

int trainer_save_checkpoint(const Trainer* t, const char* path, const char* extra, Err* err) {
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    CkptHeader h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CKPT_MAGIC, 8);
    h.version = CKPT_VERSION;
    h.method = t->tc.method;
    h.n_params = t->n_params;
    h.n_var = cluster_var_size(t);
    h.step = t->step;
    h.clusters_ready = t->clusters_ready;
    h.extra_len = extra ? strlen(extra) : 0;
    int ok = fwrite(&h, sizeof h, 1, af.f) == 1 && (!h.extra_len || fwrite(extra, h.extra_len, 1, af.f) == 1) &&
             fwrite(t->params, sizeof(float), t->n_params, af.f) == t->n_params &&
             fwrite(t->adam_m, sizeof(float), t->n_params, af.f) == t->n_params &&
             fwrite(t->adam_v, sizeof(float), t->n_params, af.f) == t->n_params &&
             (!h.n_var || fwrite(t->cluster_var, sizeof(float), h.n_var, af.f) == h.n_var);
    if (!ok) {
        atomic_abort(&af);
        return err_set(err, "%s: write error: %s", path, strerror(errno));
    }
    return atomic_commit(&af, err);
}

static int ckpt_header(FILE* f, CkptHeader* h, const char* path, Err* err) {
    if (fread(h, sizeof *h, 1, f) != 1 || memcmp(h->magic, CKPT_MAGIC, 8) != 0)
        return err_set(err, "%s: not a slimscope training checkpoint", path);
    if (h->version != CKPT_VERSION)
        return err_set(err, "%s: checkpoint version %u, expected %u", path, h->version, CKPT_VERSION);
    return 0;
}

int checkpoint_read_extra(const char* path, char** extra, Err* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    CkptHeader h;
    if (ckpt_header(f, &h, path, err)) {
        fclose(f);
        return -1;
    }
    *extra = xmalloc(h.extra_len + 1);
    size_t got = h.extra_len ? fread(*extra, 1, h.extra_len, f) : 0;
    (*extra)[got] = 0;
    fclose(f);
    if (got != h.extra_len) {
        free(*extra);
        *extra = NULL;
        return err_set(err, "%s: truncated checkpoint", path);
    }
    return 0;
}

int trainer_load_checkpoint(Trainer* t, const char* path, char** extra, Err* err) {
    FILE* f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    CkptHeader h;
    if (ckpt_header(f, &h, path, err)) goto fail;
    if (h.method != (uint32_t)t->tc.method) {
        err_set(err, "%s: checkpoint of method %s, this run is %s", path,
                h.method < 4 ? train_method_name(h.method) : "?", train_method_name(t->tc.method));
        goto fail;
    }
    if (h.n_params != t->n_params || h.n_var != cluster_var_size(t)) {
        err_set(err, "%s: checkpoint holds %llu parameters (%llu cluster values), this run has %zu (%zu)", path,
                (unsigned long long)h.n_params, (unsigned long long)h.n_var, t->n_params, cluster_var_size(t));
        goto fail;
    }
    char* ex = xmalloc(h.extra_len + 1);
    size_t got = h.extra_len ? fread(ex, 1, h.extra_len, f) : 0;
    ex[got] = 0;
    int ok = got == h.extra_len && fread(t->params, sizeof(float), t->n_params, f) == t->n_params &&
             fread(t->adam_m, sizeof(float), t->n_params, f) == t->n_params &&
             fread(t->adam_v, sizeof(float), t->n_params, f) == t->n_params &&
             (!h.n_var || fread(t->cluster_var, sizeof(float), h.n_var, f) == h.n_var);
    fclose(f);
    if (!ok) {
        free(ex);
        return err_set(err, "%s: truncated checkpoint", path);
    }
    t->step = h.step;
    t->clusters_ready = h.clusters_ready;
    if (extra)
        *extra = ex;
    else
        free(ex);
    return 0;
fail:
    fclose(f);
    return -1;
}

const char* kv_get(const char* blob, const char* key, char* buf, size_t n) {
    size_t kl = strlen(key);
    for (const char* p = blob; p && *p;) {
        const char* eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            size_t vl = len - kl - 1 < n - 1 ? len - kl - 1 : n - 1;
            memcpy(buf, p + kl + 1, vl);
            buf[vl] = 0;
            return buf;
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

// ---------------------------------------------------------------------------------------------
// progress line and CSV log

int trainlog_open(TrainLog* lg, const char* csv_path, int resume_step, int total_steps, Err* err) {
    memset(lg, 0, sizeof *lg);
    lg->tty = isatty(2);
    lg->t0 = now_seconds();
    lg->total_steps = total_steps;
    if (!csv_path) return 0;
    char* keep = NULL;
    if (resume_step >= 0) {  // keep the rows up to the checkpoint; later rows are recomputed
        size_t len;
        char* old = read_file_text(csv_path, &len, NULL);
        if (old) {
            keep = xcalloc(len + 1, 1);
            size_t kl = 0;
            for (char* line = strtok(old, "\n"); line; line = strtok(NULL, "\n")) {
                int s;
                if (sscanf(line, "%d,", &s) == 1 && s > resume_step) continue;
                kl += sprintf(keep + kl, "%s\n", line);
            }
            free(old);
        }
    }
    lg->csv = fopen(csv_path, "w");
    if (!lg->csv) {
        free(keep);
        return err_set(err, "%s: cannot write the log: %s", csv_path, strerror(errno));
    }
    if (keep && keep[0])
        fputs(keep, lg->csv);
    else
        fprintf(lg->csv, "step,loss,lr,tokens_per_s,val_loss\n");
    fflush(lg->csv);
    free(keep);
    return 0;
}

void trainlog_step(TrainLog* lg, int step, const StepStats* st, double tokens_per_s, float val_loss) {
    if (lg->csv) {
        if (val_loss >= 0)
            fprintf(lg->csv, "%d,%.6f,%.6g,%.1f,%.6f\n", step, st->loss, st->lr, tokens_per_s, val_loss);
        else
            fprintf(lg->csv, "%d,%.6f,%.6g,%.1f,\n", step, st->loss, st->lr, tokens_per_s);
        fflush(lg->csv);
    }
    double now = now_seconds();
    lg->done_steps++;
    double per = (now - lg->t0) / lg->done_steps;
    double eta = lg->total_steps > step ? per * (lg->total_steps - step) : 0;
    int final = lg->total_steps > 0 && step >= lg->total_steps;
    if (!lg->tty && !final && val_loss < 0 && now - lg->last_print < 10) return;  // a line every 10 s in a log file
    lg->last_print = now;
    char vbuf[32] = "";
    if (val_loss >= 0) snprintf(vbuf, sizeof vbuf, " | val %.4f", val_loss);
    char total[32] = "";
    if (lg->total_steps > 0) snprintf(total, sizeof total, "/%d", lg->total_steps);
    fprintf(stderr, "%sstep %d%s | loss %.4f%s | lr %.2e | %.0f tok/s | ETA %dm%02ds%s", lg->tty ? "\r" : "", step, total,
            st->loss, vbuf, st->lr, tokens_per_s, (int)(eta / 60), (int)eta % 60, lg->tty ? "\033[K" : "\n");
    if (lg->tty && (final || val_loss >= 0)) fputc('\n', stderr);
    fflush(stderr);
}

void trainlog_close(TrainLog* lg) {
    if (lg->csv) fclose(lg->csv);
    lg->csv = NULL;
}
