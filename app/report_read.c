// report_read.c: a trace file read back into the report's tokens x blocks grid, with the one-line
// errors of bad input (file:line: field, what was expected). The trace's rows are the fields of
// README "The trace"; kept experts come as names ("i0", "3") or, in older traces, as router
// indices (identity experts first).
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

#define MAX_POS 10000000
#define MAX_LAYERS 4096
#define MAX_EXPERTS 1024

typedef struct {
    int line, pos, layer, token, generated, routed, n_kept;
    float share, d;
    char* text;
    float *z, *zy, *pi, *w;  // (E) where routed
    char (*kept)[8];       // names; numeric ones are "#e" until the identity experts are known
} Row;

typedef struct {
    const char* path;
    int line;
    Err* err;
} Where;

static int bad(const Where* at, const char* field, const char* expected) {
    return err_set(at->err, "%s:%d: field '%s' %s", at->path, at->line, field, expected);
}

static const cJSON* field(const cJSON* o, const char* key) { return cJSON_GetObjectItemCaseSensitive(o, key); }

static int get_int(const cJSON* o, const char* key, int lo, int hi, int* out, const Where* at) {
    const cJSON* v = field(o, key);
    if (!v) return bad(at, key, "missing (expected an integer)");
    double x = v->valuedouble;
    if (!cJSON_IsNumber(v) || x != floor(x) || x < lo || x > hi) {
        char msg[96];
        snprintf(msg, sizeof msg, "is not an integer in [%d, %d]", lo, hi);
        return bad(at, key, msg);
    }
    *out = (int)x;
    return 0;
}

static int get_float(const cJSON* o, const char* key, float* out, const Where* at) {
    const cJSON* v = field(o, key);
    if (!v) return bad(at, key, "missing (expected a number)");
    if (!cJSON_IsNumber(v)) return bad(at, key, "is not a number");
    *out = (float)v->valuedouble;
    return 0;
}

// An array of numbers; *n is its length on the first call (-1) and must match afterwards.
static int get_floats(const cJSON* o, const char* key, int* n, float** out, const Where* at) {
    const cJSON* v = field(o, key);
    if (!v) return bad(at, key, "missing (expected an array of numbers, one per expert)");
    int len = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
    if (len < 1 || len > MAX_EXPERTS) return bad(at, key, "is not an array of numbers, one per expert");
    if (*n >= 0 && len != *n) {
        char msg[96];
        snprintf(msg, sizeof msg, "has %d values (expected %d, one per expert)", len, *n);
        return bad(at, key, msg);
    }
    *n = len;
    *out = xmalloc(len * sizeof(float));
    int i = 0;
    for (const cJSON* x = v->child; x; x = x->next, i++) {
        if (!cJSON_IsNumber(x)) return bad(at, key, "is not an array of numbers, one per expert");
        (*out)[i] = (float)x->valuedouble;
    }
    return 0;
}

// "i3" or "3" (at most 6 characters).
static int valid_name(const char* s) {
    const char* p = s[0] == 'i' ? s + 1 : s;
    if (!*p || strlen(s) > 6) return 0;
    for (; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    return 1;
}

static int get_kept(const cJSON* o, Row* row, int E, const Where* at) {
    const cJSON* v = field(o, "kept");
    if (!v) return bad(at, "kept", "missing (expected an array of expert names)");
    int n = cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1, nonzero = 0;
    if (n < 0 || n > E) return bad(at, "kept", "is not an array of at most one name per expert");
    for (int e = 0; e < E; e++) nonzero += row->w[e] != 0;
    if (n != nonzero) return bad(at, "kept", "does not name the experts with a weight in 'w'");
    row->kept = xcalloc(n ? n : 1, sizeof *row->kept);
    row->n_kept = n;
    int k = 0;
    for (const cJSON* x = v->child; x; x = x->next, k++) {
        if (cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble < E && x->valuedouble == floor(x->valuedouble))
            snprintf(row->kept[k], 8, "#%d", (int)x->valuedouble);
        else if (cJSON_IsString(x) && valid_name(x->valuestring))
            snprintf(row->kept[k], 8, "%s", x->valuestring);
        else
            return bad(at, "kept", "has an element that names no expert (expected \"i0\", \"3\" or an index)");
    }
    return 0;
}

static int parse_row(const cJSON* o, Row* row, int* E, const Where* at) {
    row->line = at->line;
    if (get_int(o, "pos", 0, MAX_POS - 1, &row->pos, at) || get_int(o, "layer", 0, MAX_LAYERS - 1, &row->layer, at) ||
        get_int(o, "token", 0, 0x7fffffff, &row->token, at))
        return -1;
    const cJSON* text = field(o, "text");
    if (!text) return bad(at, "text", "missing (expected the token's text)");
    if (!cJSON_IsString(text)) return bad(at, "text", "is not a string");
    row->text = xstrdup(text->valuestring);
    const cJSON* src = field(o, "source");
    if (!src) return bad(at, "source", "missing (expected \"prompt\" or \"generated\")");
    if (!cJSON_IsString(src) || (strcmp(src->valuestring, "prompt") && strcmp(src->valuestring, "generated")))
        return bad(at, "source", "is not \"prompt\" or \"generated\"");
    row->generated = !strcmp(src->valuestring, "generated");
    const cJSON* routed = field(o, "routed");
    if (!routed) return bad(at, "routed", "missing (expected true or false)");
    if (!cJSON_IsBool(routed)) return bad(at, "routed", "is not true or false");
    row->routed = cJSON_IsTrue(routed);
    if (get_float(o, "identity_share", &row->share, at)) return -1;
    row->d = NAN;
    if (!row->routed) return 0;
    return get_float(o, "d", &row->d, at) || get_floats(o, "z", E, &row->z, at) ||
           get_floats(o, "z_yield", E, &row->zy, at) || get_floats(o, "pi", E, &row->pi, at) ||
           get_floats(o, "w", E, &row->w, at) || get_kept(o, row, *E, at);
}

static void free_row(Row* r) {
    free(r->text); free(r->z); free(r->zy); free(r->pi); free(r->w); free(r->kept);
}

// "key value · key value ..." in the file's order; arrays as "a,b", null as "none".
static char* settings_text(const cJSON* s, float* mask_ratio) {
    size_t cap = 256, len = 0;
    char* out = xmalloc(cap);
    out[0] = 0;
    for (const cJSON* v = s->child; v; v = v->next) {
        char* val = cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
        if (cJSON_IsNull(v)) val = xstrdup("none");
        if (cJSON_IsArray(v)) {
            val = xstrdup("");
            for (const cJSON* x = v->child; x; x = x->next) {
                char* one = cJSON_IsString(x) ? xstrdup(x->valuestring) : cJSON_PrintUnformatted(x);
                val = xrealloc(val, strlen(val) + strlen(one) + 2);
                strcat(strcat(val, x == v->child ? "" : ","), one);
                if (cJSON_IsString(x)) free(one);
                else cJSON_free(one);
            }
            if (!val[0]) val = strcpy(xrealloc(val, 5), "none");
        }
        if (!val) {  // numbers and booleans as JSON writes them
            char* j = cJSON_PrintUnformatted(v);
            val = xstrdup(j);
            cJSON_free(j);
        }
        if (!strcmp(v->string, "mask_ratio") && cJSON_IsNumber(v)) *mask_ratio = (float)v->valuedouble;
        size_t need = len + strlen(v->string) + strlen(val) + 8;
        if (need > cap) out = xrealloc(out, cap = 2 * need);
        len += sprintf(out + len, "%s%s %s", len ? " \u00b7 " : "", v->string, val);
        free(val);
    }
    return out;
}

// The identity experts are the leading ones whose logits the yield moved (z_yield != z); where no
// yield moved any, those that lora-only mode drops (pi = 0 at every position); else none.
static int infer_n_id(const Row* rows, int n, int E) {
    int moved = 0, dropped = E;
    for (int i = 0; i < n; i++) {
        if (!rows[i].routed) continue;
        int k = 0;
        while (k < E && rows[i].zy[k] != rows[i].z[k]) k++;
        if (k > moved) moved = k;
        k = 0;
        while (k < dropped && rows[i].pi[k] == 0) k++;
        dropped = k;
    }
    int n_id = moved ? moved : dropped;
    return n_id < E ? n_id : 0;
}

// Per block, the yield's slope in d (least squares over the block's positions: the yield is
// affine in d, gamma * d or gamma * (d - q50) / (q90 - q50)); with one distinct d, gamma * d.
static void yield_slopes(const Row* rows, int n, int L, float* slope) {
    for (int l = 0; l < L; l++) {
        double sd = 0, sy = 0, sdd = 0, sdy = 0;
        int m = 0;
        for (int i = 0; i < n; i++)
            if (rows[i].layer == l && rows[i].routed) {
                double d = rows[i].d, y = rows[i].zy[0] - rows[i].z[0];
                sd += d, sy += y, sdd += d * d, sdy += d * y, m++;
            }
        double var = m ? sdd - sd * sd / m : 0;
        if (var > 1e-9 * (sdd + 1e-30)) slope[l] = (float)((sdy - sd * sy / m) / var);
        else slope[l] = m && sd != 0 ? (float)(sy / sd) : NAN;
    }
}

static void fill_cell(ReportCell* c, Row* row, int n_id, int E, float slope) {
    c->routed = row->routed;
    c->id_share = row->share;
    c->d = row->d;
    c->win_d = NAN;
    if (!row->routed) return;
    size_t cap = 16 * (row->n_kept + 1), len = 0;
    c->kept = xmalloc(cap);
    c->kept[0] = 0;
    float best = -1;
    int k = 0;
    for (int e = 0; e < E; e++) {
        if (row->w[e] == 0) continue;
        char* name = row->kept[k++];
        if (name[0] == '#') {  // a router index: identity experts first
            unsigned idx = (unsigned)atoi(name + 1) % MAX_EXPERTS, nid = (unsigned)n_id % MAX_EXPERTS;
            if (idx < nid) snprintf(name, 8, "i%u", idx);
            else snprintf(name, 8, "%u", idx - nid);
        }
        len += snprintf(c->kept + len, cap - len, "%s%s %.2f", len ? ", " : "", name, row->w[e]);
        if (row->w[e] > best) best = row->w[e], snprintf(c->dominant, sizeof c->dominant, "%s", name);
    }
    if (n_id <= 0 || !(slope > 0)) return;
    float id_max = -INFINITY, lora_max = -INFINITY;
    for (int e = 0; e < E; e++) {
        if (e < n_id) id_max = fmaxf(id_max, row->z[e]);
        else lora_max = fmaxf(lora_max, row->z[e]);
    }
    // identity is top-1 once its best logit plus the yield reaches the best LoRA logit
    float yield = row->zy[0] - row->z[0];
    c->win_d = row->d + (lora_max - id_max - yield) / slope;
}

static int assemble(Report* r, Row* rows, int n, int E, const char* path, Err* err) {
    int P = 0, L = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].pos >= P) P = rows[i].pos + 1;
        if (rows[i].layer >= L) L = rows[i].layer + 1;
    }
    if ((size_t)P * L != (size_t)n)
        return err_set(err, "%s: %d rows for %d positions x %d blocks (expected one row per position and block)", path, n, P, L);
    int* at = xmalloc((size_t)P * L * sizeof(int));
    for (size_t i = 0; i < (size_t)P * L; i++) at[i] = -1;
    for (int i = 0; i < n; i++) {
        int* slot = &at[(size_t)rows[i].pos * L + rows[i].layer];
        if (*slot >= 0) {
            err_set(err, "%s:%d: position %d block %d has a row already (line %d)", path, rows[i].line, rows[i].pos,
                    rows[i].layer, rows[*slot].line);
            free(at);
            return -1;
        }
        *slot = i;
    }
    r->n_pos = P, r->n_layers = L, r->n_experts = E > 0 ? E : 0;
    r->n_id = E > 0 ? infer_n_id(rows, n, E) : 0;
    float* slope = xcalloc(L, sizeof(float));
    if (r->n_id) yield_slopes(rows, n, L, slope);
    r->token = xcalloc(P, sizeof(int));
    r->text = xcalloc(P, sizeof(char*));
    r->generated = xcalloc(P, 1);
    r->cell = xcalloc((size_t)P * L, sizeof(ReportCell));
    for (int p = 0; p < P; p++) {
        const Row* first = &rows[at[(size_t)p * L]];
        r->token[p] = first->token;
        r->text[p] = xstrdup(first->text);
        r->generated[p] = (unsigned char)first->generated;
        r->n_generated += first->generated;
        for (int l = 0; l < L; l++)
            fill_cell(&r->cell[(size_t)p * L + l], &rows[at[(size_t)p * L + l]], r->n_id, E, slope[l]);
    }
    free(slope);
    free(at);
    return 0;
}

int report_read(Report* r, const char* path, Err* err) {
    memset(r, 0, sizeof *r);
    r->mask_ratio = NAN;
    FILE* f = open_input(path, err);
    if (!f) return -1;
    const char* name = strcmp(path, "-") ? path : "standard input (-)";
    Where at = {name, 0, err};
    Row* rows = NULL;
    int n = 0, cap = 0, E = -1, rc = -1;
    char* line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) > 0) {
        at.line++;
        if (strspn(line, " \t\r\n") == strlen(line)) continue;
        cJSON* o = cJSON_Parse(line);
        if (!o || !cJSON_IsObject(o)) {
            cJSON_Delete(o);
            err_set(err, "%s:%d: not a JSON object (expected one JSON object per line: a trace)", name, at.line);
            goto done;
        }
        const cJSON* s = field(o, "settings");
        if (s) {
            if (!cJSON_IsObject(s) || r->settings) {
                cJSON_Delete(o);
                err_set(err, "%s:%d: field 'settings' %s", name, at.line, r->settings ? "appears twice" : "is not an object");
                goto done;
            }
            r->settings = settings_text(s, &r->mask_ratio);
        } else {
            if (n == cap) rows = xrealloc(rows, (cap = cap ? 2 * cap : 256) * sizeof(Row));
            memset(&rows[n], 0, sizeof(Row));
            int bad_row = parse_row(o, &rows[n++], &E, &at);
            if (bad_row) {
                cJSON_Delete(o);
                goto done;
            }
        }
        cJSON_Delete(o);
    }
    if (ferror(f)) {
        err_set(err, "%s: read failed", name);
        goto done;
    }
    if (!n) {
        err_set(err, "%s: no rows (expected a trace: one JSON object per position and block)", name);
        goto done;
    }
    rc = assemble(r, rows, n, E, name, err);
done:
    free(line);
    fclose(f);
    for (int i = 0; i < n; i++) free_row(&rows[i]);
    free(rows);
    if (rc) report_free(r);
    return rc;
}

// The columns the chart needs, in SweepRow's order.
static const char* SWEEP_COLS[4] = {"ratio", "kl_p0_p", "kl_base_p", "top1_agree_p0"};

int report_read_sweep(Report* r, const char* path, Err* err) {
    FILE* f = open_input(path, err);
    if (!f) return -1;
    const char* name = strcmp(path, "-") ? path : "standard input (-)";
    int col[4] = {-1, -1, -1, -1}, line_no = 0, rc = -1, cap = 0, n_cols = 0;
    char* line = NULL;
    size_t line_cap = 0;
    while (getline(&line, &line_cap, f) > 0) {
        line_no++;
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0]) continue;
        float v[4] = {0};
        int k = 0, seen = 0;
        for (char *tok = line, *next; tok; tok = next, k++) {
            next = strchr(tok, ',');
            if (next) *next++ = 0;
            for (int c = 0; c < 4; c++) {
                if (line_no == 1 && !strcmp(tok, SWEEP_COLS[c])) col[c] = k;
                if (line_no > 1 && col[c] == k) {
                    char* end;
                    v[c] = strtof(tok, &end);
                    if (end == tok || *end || !isfinite(v[c])) {
                        err_set(err, "%s:%d: column '%s' is not a number: '%s'", name, line_no, SWEEP_COLS[c], tok);
                        goto done;
                    }
                    seen++;
                }
            }
        }
        for (int c = 0; line_no == 1 && c < 4; c++)
            if (col[c] < 0) {
                err_set(err, "%s:1: no column '%s' (expected the CSV of slimscope sweep)", name, SWEEP_COLS[c]);
                goto done;
            }
        if (line_no == 1) {
            n_cols = k;
            continue;
        }
        if (seen < 4) {
            err_set(err, "%s:%d: %d columns (expected %d as in the header)", name, line_no, k, n_cols);
            goto done;
        }
        if (r->n_sweep == cap) r->sweep = xrealloc(r->sweep, (cap = cap ? 2 * cap : 16) * sizeof(SweepRow));
        r->sweep[r->n_sweep++] = (SweepRow){v[0], v[1], v[2], v[3]};
    }
    if (!r->n_sweep) {
        err_set(err, "%s: no rows (expected the CSV of slimscope sweep)", name);
        goto done;
    }
    r->sweep_path = xstrdup(path);
    rc = 0;
done:
    free(line);
    fclose(f);
    if (rc) free(r->sweep), r->sweep = NULL, r->n_sweep = 0;
    return rc;
}

void report_free(Report* r) {
    for (int p = 0; r->text && p < r->n_pos; p++) free(r->text[p]);
    for (size_t i = 0; r->cell && i < (size_t)r->n_pos * r->n_layers; i++) free(r->cell[i].kept);
    free(r->sweep_path); free(r->sweep);
    free(r->settings); free(r->token); free(r->text); free(r->generated); free(r->cell);
    memset(r, 0, sizeof *r);
}
