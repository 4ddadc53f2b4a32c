// cmd_profile.c: `slimscope profile`: expert load per block over a data set: how often each expert
// is kept and with what weight, the identity share, and the distribution of the cluster distance d.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "progress.h"
#include "session.h"

static const char* USAGE =
    "usage: slimscope profile --model DIR --adapter DIR --data FILE [--out FILE.csv]\n"
    "FILE is JSONL with prompt/response fields (name ending .jsonl; for - standard input, a first '{')\n"
    "or plain text (documents separated by blank lines). Prints, per block and expert, keep_share\n"
    "(fraction of tokens that kept the expert), mean_weight (its weight averaged over all tokens) and\n"
    "mean_weight_kept (over the tokens that kept it), with the block's mean identity share and the\n"
    "distance d (mean, p50, p90). --out - writes the CSV to standard output (the table to stderr).\n";
static const char* OPTS = "model adapter data out threads mask-ratio mask-seed adapter-mode force adapter-layers ctx weights device";

typedef struct {
    int L, E;
    double* kept;       // (L, E) tokens that kept the expert
    double* wsum;       // (L, E) sum of its weight over all tokens
    double* id_share;   // (L) sum of the identity share
    float* d;           // (n, L) every distance seen, for percentiles
    int n, cap;         // tokens seen
} Profile;

static void profile_add(Profile* p, const Trace* t, int n_tokens) {
    if (p->n + n_tokens > p->cap) {
        while (p->n + n_tokens > p->cap) p->cap = p->cap ? 2 * p->cap : 4096;
        p->d = xrealloc(p->d, (size_t)p->cap * p->L * sizeof(float));
    }
    for (int pos = 0; pos < n_tokens; pos++, p->n++)
        for (int l = 0; l < p->L; l++) {
            size_t pl = (size_t)pos * p->L + l;
            for (int e = 0; e < p->E; e++) {
                float w = t->w[pl * p->E + e];
                p->kept[l * p->E + e] += w != 0;
                p->wsum[l * p->E + e] += w;
            }
            p->id_share[l] += t->id_share[pl];
            p->d[(size_t)p->n * p->L + l] = t->dist[pl];
        }
}

static int cmp_float(const void* a, const void* b) {
    float x = *(const float*)a, y = *(const float*)b;
    return (x > y) - (x < y);
}

// Reads the data file into texts: JSONL lines with prompt/response (joined), or plain text split
// into documents at blank lines.
static char** read_texts(const char* path, int* n_out, Err* err) {
    size_t len;
    char* all = read_file_text(path, &len, err);
    if (!all) return NULL;
    int cap = 64, n = 0;
    char** texts = xmalloc(cap * sizeof(char*));
    int jsonl = input_is_jsonl(path);
    char* save = NULL;
    int line_no = 0;
    if (jsonl) {
        for (char* line = strtok_r(all, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            line_no++;
            if (!*line) continue;
            cJSON* o = cJSON_Parse(line);
            const cJSON* pr = cJSON_GetObjectItemCaseSensitive(o, "prompt");
            const cJSON* re = cJSON_GetObjectItemCaseSensitive(o, "response");
            if (!cJSON_IsString(pr) || !cJSON_IsString(re)) {
                cJSON_Delete(o);
                err_set(err, "%s:%d: expected a JSON object with string fields 'prompt' and 'response'", path, line_no);
                for (int i = 0; i < n; i++) free(texts[i]);
                free(texts);
                free(all);
                return NULL;
            }
            if (n == cap) texts = xrealloc(texts, (cap *= 2) * sizeof(char*));
            texts[n] = xmalloc(strlen(pr->valuestring) + strlen(re->valuestring) + 1);
            strcpy(texts[n], pr->valuestring);
            strcat(texts[n++], re->valuestring);
            cJSON_Delete(o);
        }
    } else {
        char* p = all;
        while (*p) {
            char* end = strstr(p, "\n\n");
            size_t dl = end ? (size_t)(end - p) : strlen(p);
            if (dl > 0) {
                if (n == cap) texts = xrealloc(texts, (cap *= 2) * sizeof(char*));
                texts[n] = xmalloc(dl + 1);
                memcpy(texts[n], p, dl);
                texts[n++][dl] = 0;
            }
            p += dl;
            while (*p == '\n') p++;
        }
    }
    free(all);
    *n_out = n;
    return texts;
}

int cmd_profile(int argc, char** argv) {
    Settings st;
    int done_status = settings_begin(&st, "profile", argc, argv, OPTS, USAGE);
    if (done_status >= 0) return done_status;
    Err err;
    if (!st.adapter_dir || !st.data) return settings_missing(&st, "profile: --adapter DIR and --data FILE are required");
    Session s;
    if (session_open_cmd(&s, &st)) return 1;
    int n_texts = 0, rc = 1;
    char** texts = read_texts(st.data, &n_texts, &err);
    Profile p = {0};
    Progress prog = {0};
    p.L = s.model.cfg.n_layers;
    p.E = s.adapter.n_experts;
    p.kept = xcalloc((size_t)p.L * p.E, sizeof(double));
    p.wsum = xcalloc((size_t)p.L * p.E, sizeof(double));
    p.id_share = xcalloc(p.L, sizeof(double));
    if (!texts) goto done;
    progress_begin(&prog, "profile", "texts", n_texts);
    for (int i = 0; i < n_texts; i++) {
        progress_step(&prog, i);
        int *ids, n;
        if (session_encode(&s, texts[i], 1, &ids, &n, &err)) goto done;
        if (n > s.rs.max_seq) n = s.rs.max_seq;  // long documents: their first window
        session_reset(&s);
        int frc = n ? session_feed(&s, ids, n, &err) : 0;
        free(ids);
        if (frc) goto done;
        profile_add(&p, &s.trace, n);
    }
    progress_end(&prog);
    if (!p.n) {
        err_set(&err, "%s: no tokens to profile", st.data);
        goto done;
    }
    FILE* csv = NULL;
    AtomicFile af;
    if (st.out) {
        if (atomic_open(&af, st.out, &err)) goto done;
        csv = af.f;
        fprintf(csv, "layer,expert,kind,keep_share,mean_weight,mean_weight_kept,identity_share,d_mean,d_p50,d_p90\n");
    }
    FILE* table = csv == stdout ? stderr : stdout;  // --out -: the CSV alone on standard output
    fprintf(table, "profile of %s over %d tokens (%d texts): keep share / mean weight when kept\n", st.data, p.n, n_texts);
    // each header is as wide as the values under it: "%5d  %8.3f %6.2f %6.2f %6.2f  " and " %5.3f/%-5.3f"
    fprintf(table, "%5s  %8s %6s %6s %6s  ", "block", "id share", "d mean", "d p50", "d p90");
    char name[16];
    for (int e = 0; e < p.E; e++) fprintf(table, " %-11s", slim_expert_name(name, sizeof name, s.adapter.n_id, e));
    fprintf(table, "\n");
    float* col = xmalloc(p.n * sizeof(float));
    for (int l = 0; l < p.L; l++) {
        double dm = 0;
        for (int k = 0; k < p.n; k++) dm += (col[k] = p.d[(size_t)k * p.L + l]);
        qsort(col, p.n, sizeof(float), cmp_float);
        double d50 = col[(int)(0.5 * (p.n - 1))], d90 = col[(int)(0.9 * (p.n - 1))];
        dm /= p.n;
        double ids_mean = p.id_share[l] / p.n;
        // no clusters (plain LoRA, MoE-LoRA without them): there is no distance to report
        int has_d = s.adapter.n_clusters > 0;
        if (has_d) fprintf(table, "%5d  %8.3f %6.2f %6.2f %6.2f  ", l, ids_mean, dm, d50, d90);
        else fprintf(table, "%5d  %8.3f %6s %6s %6s  ", l, ids_mean, "n/a", "n/a", "n/a");
        for (int e = 0; e < p.E; e++) {
            double ks = p.kept[l * p.E + e] / p.n, mw = p.wsum[l * p.E + e] / p.n;
            double mk = p.kept[l * p.E + e] ? p.wsum[l * p.E + e] / p.kept[l * p.E + e] : 0;
            fprintf(table, " %5.3f/%-5.3f", ks, mk);
            if (csv)
            {
                fprintf(csv, "%d,%s,%s,%.6f,%.6f,%.6f,%.6f,", l, slim_expert_name(name, sizeof name, s.adapter.n_id, e),
                        e < s.adapter.n_id ? "identity" : "lora", ks, mw, mk, ids_mean);
                if (has_d) fprintf(csv, "%.6f,%.6f,%.6f\n", dm, d50, d90);
                else fprintf(csv, ",,\n");  // empty: no distance without clusters
            }
        }
        fprintf(table, "\n");
    }
    free(col);
    if (csv && atomic_commit(&af, &err)) goto done;
    rc = 0;
done:
    progress_end(&prog);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    for (int i = 0; texts && i < n_texts; i++) free(texts[i]);
    free(texts);
    free(p.kept);
    free(p.wsum);
    free(p.id_share);
    free(p.d);
    session_close(&s);
    settings_free(&st);
    return rc;
}
