// trace.c: the Trace's storage and its JSONL writer (field names documented in README.md).
#include "trace.h"

#include <stdio.h>

#include "slim.h"

#include <stdlib.h>
#include <string.h>

#define N_PROJ 7

static void trace_alloc_arrays(Trace* t, int cap) {
    size_t L = t->n_layers, E = t->n_experts;
    t->token = xrealloc(t->token, cap * sizeof(int));
    t->z = xrealloc(t->z, cap * L * E * sizeof(float));
    t->zy = xrealloc(t->zy, cap * L * E * sizeof(float));
    t->pi = xrealloc(t->pi, cap * L * E * sizeof(float));
    t->w = xrealloc(t->w, cap * L * E * sizeof(float));
    t->nearest = xrealloc(t->nearest, cap * L * sizeof(int));
    t->dist = xrealloc(t->dist, cap * L * sizeof(float));
    t->id_share = xrealloc(t->id_share, cap * L * sizeof(float));
    t->rel_delta = xrealloc(t->rel_delta, cap * L * N_PROJ * sizeof(float));
    t->routed = xrealloc(t->routed, cap * L);
    t->top_id = xrealloc(t->top_id, cap * TRACE_TOPK * sizeof(int));
    t->top_p = xrealloc(t->top_p, cap * TRACE_TOPK * sizeof(float));
    t->entropy = xrealloc(t->entropy, cap * sizeof(float));
    t->lens_id = xrealloc(t->lens_id, cap * L * sizeof(int));
    t->lens_p = xrealloc(t->lens_p, cap * L * sizeof(float));
    t->cap = cap;
}

void trace_init(Trace* t, int n_layers, int n_experts, int n_id, int cap) {
    memset(t, 0, sizeof *t);
    t->n_layers = n_layers;
    t->n_experts = n_experts > 0 ? n_experts : 1;
    t->n_id = n_id;
    trace_alloc_arrays(t, cap > 0 ? cap : 16);
}

void trace_reserve(Trace* t, int cap) {
    if (cap > t->cap) trace_alloc_arrays(t, cap > 2 * t->cap ? cap : 2 * t->cap);
}

void trace_reset(Trace* t) { t->n = 0; }

void trace_free(Trace* t) {
    free(t->token); free(t->z); free(t->zy); free(t->pi); free(t->w); free(t->nearest); free(t->dist);
    free(t->id_share); free(t->rel_delta); free(t->routed); free(t->top_id); free(t->top_p); free(t->entropy);
    free(t->lens_id); free(t->lens_p);
    memset(t, 0, sizeof *t);
}

static void write_json_string(FILE* f, const char* s) {
    fputc('"', f);
    for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p == '\r') fputs("\\r", f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static void write_floats(FILE* f, const char* key, const float* v, int n) {
    fprintf(f, ",\"%s\":[", key);
    for (int i = 0; i < n; i++) fprintf(f, "%s%.6g", i ? "," : "", v[i]);
    fputc(']', f);
}

int trace_write_jsonl(const Trace* t, const char* path, int from, int to, const TraceExtras* x, Err* err) {
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    TokenTextFn text = x ? x->text : NULL;
    void* ctx = x ? x->ctx : NULL;
    if (x && x->header) fprintf(af.f, "%s\n", x->header);
    static const char* proj_names[N_PROJ] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    int L = t->n_layers, E = t->n_experts;
    for (int pos = from; pos < to && pos < t->n; pos++) {
        for (int l = 0; l < L; l++) {
            size_t pl = (size_t)pos * L + l;
            FILE* f = af.f;
            fprintf(f, "{\"pos\":%d,\"token\":%d", pos, t->token[pos]);
            if (x && x->generated) fprintf(f, ",\"source\":\"%s\"", x->generated[pos] ? "generated" : "prompt");
            if (text) {
                fputs(",\"text\":", f);
                write_json_string(f, text(ctx, t->token[pos]));
            }
            fprintf(f, ",\"layer\":%d,\"routed\":%s", l, t->routed[pl] ? "true" : "false");
            if (t->routed[pl]) {
                write_floats(f, "z", t->z + pl * E, E);
                fprintf(f, ",\"nearest\":%d,\"d\":%.6g", t->nearest[pl], t->dist[pl]);
                write_floats(f, "z_yield", t->zy + pl * E, E);
                write_floats(f, "pi", t->pi + pl * E, E);
                fputs(",\"kept\":[", f);
                int first = 1;
                for (int e = 0; e < E; e++)
                    if (t->w[pl * E + e] != 0) {
                        char name[16];
                        fprintf(f, "%s\"%s\"", first ? "" : ",", slim_expert_name(name, sizeof name, t->n_id, e));
                        first = 0;
                    }
                fputc(']', f);
                write_floats(f, "w", t->w + pl * E, E);
            }
            fprintf(f, ",\"identity_share\":%.6g,\"rel_delta\":{", t->id_share[pl]);
            int first = 1;
            for (int p = 0; p < N_PROJ; p++) {
                float v = t->rel_delta[pl * N_PROJ + p];
                if (v < 0) continue;  // projection not targeted
                fprintf(f, "%s\"%s\":%.6g", first ? "" : ",", proj_names[p], v);
                first = 0;
            }
            fputc('}', f);
            if (t->want_lens) fprintf(f, ",\"lens\":[%d,%.6g]", t->lens_id[pl], t->lens_p[pl]);
            if (l == L - 1) {  // the next-token distribution belongs to the position: on its last block
                fputs(",\"next_top\":[", f);
                for (int k = 0; k < TRACE_TOPK; k++)
                    fprintf(f, "%s[%d,%.6g]", k ? "," : "", t->top_id[pos * TRACE_TOPK + k], t->top_p[pos * TRACE_TOPK + k]);
                fprintf(f, "],\"entropy\":%.6g", t->entropy[pos]);
            }
            fputs("}\n", f);
        }
    }
    return atomic_commit(&af, err);
}
