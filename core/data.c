// data.c: plain-text token streams with a held-out split by document, random training windows,
// and prompt/response JSONL examples for fine-tuning (see data.h).
#include "data.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mask.h"

// ---------------------------------------------------------------------------------------------
// plain text

typedef struct {
    const char* p;
    size_t len;
} Span;

static int blank_span(const char* p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)p[i])) return 0;
    return 1;
}

// Splits text at sep into non-blank spans (documents), whitespace around each trimmed. Default
// separator: a line "<|endoftext|>" when the text has one (tools/demo/corpus.sh writes those),
// otherwise a blank line.
static Span* split_docs(const char* text, size_t len, const char* sep, int* n_out) {
    if (!sep || !*sep) sep = memmem(text, len, "\n<|endoftext|>\n", 15) ? "\n<|endoftext|>\n" : "\n\n";
    size_t sl = strlen(sep);
    int n = 0, cap = 1024;
    Span* s = xmalloc(cap * sizeof(Span));
    const char* p = text;
    const char* end = text + len;
    while (p < end) {
        const char* q = memmem(p, end - p, sep, sl);
        const char* stop = q ? q : end;
        // strip surrounding whitespace of the document
        const char* a = p;
        const char* b = stop;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (b > a && !blank_span(a, b - a)) {
            if (n == cap) s = xrealloc(s, (cap *= 2) * sizeof(Span));
            s[n].p = a;
            s[n].len = b - a;
            n++;
        }
        p = q ? q + sl : end;
    }
    *n_out = n;
    return s;
}

static int in_val(uint64_t seed, int doc, float frac) {
    return frac > 0 && (double)(rng_hash(seed ^ 0x76616c5f73706c74ull, (uint64_t)doc) >> 11) / 9007199254740992.0 < frac;
}

static void append(int** buf, size_t* n, size_t* cap, const int* ids, size_t k) {
    if (*n + k > *cap) {
        while (*n + k > *cap) *cap = *cap ? *cap * 2 : 4096;
        *buf = xrealloc(*buf, *cap * sizeof(int));
    }
    memcpy(*buf + *n, ids, k * sizeof(int));
    *n += k;
}

// Tokenises the documents of a file (in parallel: a loaded tokenizer is read-only).
static int encode_docs(const char* path, const Tokenizer* tok, const char* doc_sep, int*** ids_out, int** lens_out,
                       int* n_out, Err* err) {
    size_t len;
    char* text = read_file_text(path, &len, err);
    if (!text) return -1;
    int n;
    Span* docs = split_docs(text, len, doc_sep, &n);
    if (n == 0) {
        free(docs);
        free(text);
        return err_set(err, "%s: no text (every document is blank)", path);
    }
    int** ids = xcalloc(n, sizeof(int*));
    int* lens = xcalloc(n, sizeof(int));
    int bad = -1;
    Err first;
#pragma omp parallel for schedule(dynamic, 16)
    for (int i = 0; i < n; i++) {
        Err e;
        if (tokenizer_encode(tok, docs[i].p, docs[i].len, 1, &ids[i], &lens[i], &e)) {
#pragma omp critical
            if (bad < 0 || i < bad) {
                bad = i;
                first = e;
            }
        }
    }
    free(docs);
    free(text);
    if (bad >= 0) {
        for (int i = 0; i < n; i++) free(ids[i]);
        free(ids);
        free(lens);
        return err_set(err, "%s: document %d: %s", path, bad + 1, first.msg);
    }
    *ids_out = ids;
    *lens_out = lens;
    *n_out = n;
    return 0;
}

void text_data_from_docs(TextData* d, int* const* docs, const int* lens, int n_docs, float val_frac, uint64_t seed,
                         int eos) {
    memset(d, 0, sizeof *d);
    size_t cap_t = 0, cap_v = 0;
    int any_val = 0;
    for (int i = 0; i < n_docs; i++) any_val |= in_val(seed, i, val_frac);
    int forced = val_frac > 0 && !any_val && n_docs > 1 ? n_docs - 1 : -1;  // at least one held-out document
    for (int i = 0; i < n_docs; i++) {
        int v = in_val(seed, i, val_frac) || i == forced;
        append(v ? &d->val : &d->train, v ? &d->n_val : &d->n_train, v ? &cap_v : &cap_t, docs[i], lens[i]);
        if (eos >= 0) append(v ? &d->val : &d->train, v ? &d->n_val : &d->n_train, v ? &cap_v : &cap_t, &eos, 1);
        d->n_val_docs += v;
    }
    d->n_docs = n_docs;
}

int text_data_load(TextData* d, const char* path, const Tokenizer* tok, const char* doc_sep, float val_frac,
                   uint64_t seed, int eos, Err* err) {
    memset(d, 0, sizeof *d);
    if (!(val_frac >= 0 && val_frac < 1)) return err_set(err, "held-out fraction %g is outside [0, 1)", val_frac);
    int** ids;
    int* lens;
    int n;
    if (encode_docs(path, tok, doc_sep, &ids, &lens, &n, err)) return -1;
    text_data_from_docs(d, ids, lens, n, val_frac, seed, eos);
    for (int i = 0; i < n; i++) free(ids[i]);
    free(ids);
    free(lens);
    return 0;
}

int text_data_load_val(TextData* d, const char* path, const Tokenizer* tok, const char* doc_sep, int eos, Err* err) {
    int** ids;
    int* lens;
    int n;
    if (encode_docs(path, tok, doc_sep, &ids, &lens, &n, err)) return -1;
    size_t cap = d->n_val;
    for (int i = 0; i < n; i++) {
        append(&d->val, &d->n_val, &cap, ids[i], lens[i]);
        if (eos >= 0) append(&d->val, &d->n_val, &cap, &eos, 1);
        free(ids[i]);
    }
    d->n_val_docs += n;
    free(ids);
    free(lens);
    return 0;
}

void text_data_free(TextData* d) {
    free(d->train);
    free(d->val);
    memset(d, 0, sizeof *d);
}

void text_data_sample(const TextData* d, Batch* b, Rng* rng) {
    size_t span = d->n_train > (size_t)b->T + 1 ? d->n_train - b->T - 1 : 0;
    for (int i = 0; i < b->B; i++) {
        size_t s = span ? (size_t)(rng_u64(rng) % (span + 1)) : 0;
        for (int t = 0; t < b->T; t++) {
            size_t k = s + t;
            b->tokens[i * b->T + t] = k < d->n_train ? d->train[k] : 0;
            b->targets[i * b->T + t] = k + 1 < d->n_train ? d->train[k + 1] : -1;
        }
    }
}

int text_data_val_batches(const TextData* d, int B, int T, int max_batches, Batch** out) {
    *out = NULL;
    if (d->n_val < 2) return 0;
    size_t avail = (d->n_val - 1) / T;  // non-overlapping windows
    int short_stream = avail == 0;
    if (short_stream) avail = 1;
    size_t want = (size_t)B * max_batches;
    size_t nwin = avail < want ? avail : want;
    int nb = (int)((nwin + B - 1) / B);
    Batch* bs = xcalloc(nb, sizeof(Batch));
    for (int k = 0; k < nb; k++) {
        int rows = (int)(nwin - (size_t)k * B < (size_t)B ? nwin - (size_t)k * B : (size_t)B);
        bs[k].B = rows;
        bs[k].T = T;
        bs[k].tokens = xmalloc((size_t)rows * T * sizeof(int));
        bs[k].targets = xmalloc((size_t)rows * T * sizeof(int));
        for (int i = 0; i < rows; i++) {
            size_t w = (size_t)k * B + i;
            size_t s = (avail * w / nwin) * T;  // windows spread evenly over the stream
            for (int t = 0; t < T; t++) {
                size_t p = s + t;
                bs[k].tokens[i * T + t] = p < d->n_val ? d->val[p] : 0;
                bs[k].targets[i * T + t] = p + 1 < d->n_val ? d->val[p + 1] : -1;
            }
        }
    }
    *out = bs;
    return nb;
}

void batches_free(Batch* b, int n) {
    for (int i = 0; i < n; i++) {
        free(b[i].tokens);
        free(b[i].targets);
        free(b[i].lens);
    }
    free(b);
}

// ---------------------------------------------------------------------------------------------
// prompt / response JSONL

void sft_data_add(SftData* d, const int* ids, int n, int n_prompt) {
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->off = xrealloc(d->off, (d->cap + 1) * sizeof(size_t));
        d->n_prompt = xrealloc(d->n_prompt, d->cap * sizeof(int));
    }
    if (d->n == 0) d->off[0] = 0;
    append(&d->tokens, &d->n_tokens, &d->cap_tokens, ids, n);
    d->n_prompt[d->n] = n_prompt;
    d->off[++d->n] = d->n_tokens;
}

int sft_encode(const Tokenizer* tok, const char* prompt, const char* response, int eos, int** ids, int* n,
               int* n_prompt, Err* err) {
    int *p, np, *r, nr;
    if (tokenizer_encode(tok, prompt, strlen(prompt), 1, &p, &np, err)) return -1;
    if (tokenizer_encode(tok, response, strlen(response), 0, &r, &nr, err)) {
        free(p);
        return -1;
    }
    *ids = xmalloc((np + nr + 1) * sizeof(int));
    memcpy(*ids, p, np * sizeof(int));
    memcpy(*ids + np, r, nr * sizeof(int));
    *n = np + nr;
    if (eos >= 0) (*ids)[(*n)++] = eos;
    *n_prompt = np;
    free(p);
    free(r);
    return 0;
}

int sft_data_load(SftData* d, const char* path, const Tokenizer* tok, int eos, int skip_bad, Err* err) {
    memset(d, 0, sizeof *d);
    FILE* f = open_input(path, err);
    if (!f) return -1;
    char* line = NULL;
    size_t cap = 0;
    ssize_t got;
    int lineno = 0, reported = 0;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (blank_span(line, got)) continue;
        char why[256] = "";
        cJSON* o = cJSON_ParseWithLength(line, got);
        const cJSON* p = o ? cJSON_GetObjectItemCaseSensitive(o, "prompt") : NULL;
        const cJSON* r = o ? cJSON_GetObjectItemCaseSensitive(o, "response") : NULL;
        if (!o)
            snprintf(why, sizeof why, "not valid JSON");
        else if (!cJSON_IsObject(o))
            snprintf(why, sizeof why, "expected a JSON object with \"prompt\" and \"response\"");
        else if (!cJSON_IsString(p))
            snprintf(why, sizeof why, "\"prompt\" is %s", p ? "not a string" : "missing");
        else if (!cJSON_IsString(r))
            snprintf(why, sizeof why, "\"response\" is %s", r ? "not a string" : "missing");
        int *ids = NULL, n = 0, np = 0;
        Err e;
        if (!why[0] && sft_encode(tok, p->valuestring, r->valuestring, eos, &ids, &n, &np, &e))
            snprintf(why, sizeof why, "%.200s", e.msg);  // the line number and file go around it
        else if (!why[0] && n == 0)  // possible without BOS and EOS; a batch needs at least one token
            snprintf(why, sizeof why, "\"prompt\" and \"response\" give no tokens");
        cJSON_Delete(o);
        if (why[0]) {
            free(ids);
            if (!skip_bad) {
                free(line);
                fclose(f);
                sft_data_free(d);
                return err_set(err, "%s:%d: %s (use --skip-bad-lines to skip such lines)", path, lineno, why);
            }
            if (reported++ < 10) fprintf(stderr, "warning: %s:%d: %s; line skipped\n", path, lineno, why);
            d->n_bad++;
            continue;
        }
        sft_data_add(d, ids, n, np);
        free(ids);
    }
    free(line);
    fclose(f);
    if (d->n_bad > 10) fprintf(stderr, "warning: %s: %d bad lines skipped in all\n", path, d->n_bad);
    if (d->n == 0) {
        sft_data_free(d);
        return err_set(err, "%s: no usable prompt/response examples", path);
    }
    return 0;
}

void sft_data_free(SftData* d) {
    free(d->tokens);
    free(d->off);
    free(d->n_prompt);
    memset(d, 0, sizeof *d);
}

static void sft_shuffle(SftSampler* s) {
    for (int i = 0; i < s->n; i++) s->perm[i] = i;
    uint64_t key = rng_hash(s->seed ^ 0x7368756666ull, (uint64_t)s->epoch);
    for (int i = s->n - 1; i > 0; i--) {
        int j = (int)(rng_hash(key, (uint64_t)i) % (uint64_t)(i + 1));
        int t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
    }
}

void sft_sampler_init(SftSampler* s, const SftData* d, uint64_t seed) {
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->n = d->n;
    s->perm = xmalloc((d->n ? d->n : 1) * sizeof(int));
    sft_shuffle(s);
}

void sft_sampler_seek(SftSampler* s, int epoch, int pos) {
    s->epoch = epoch;
    s->pos = pos;
    sft_shuffle(s);
}

void sft_sampler_free(SftSampler* s) {
    free(s->perm);
    memset(s, 0, sizeof *s);
}

int sft_next_batch(SftSampler* s, const SftData* d, Batch* b, int B, int max_T) {
    int idx[4096];
    int longest = 1, truncated = 0;
    if (B > 4096) B = 4096;
    for (int i = 0; i < B; i++) {
        if (s->pos >= s->n) sft_sampler_seek(s, s->epoch + 1, 0);
        idx[i] = s->perm[s->pos++];
        int len = (int)(d->off[idx[i] + 1] - d->off[idx[i]]) - 1;  // inputs: all tokens but the last
        if (len > longest) longest = len;
    }
    int T = (longest + 7) / 8 * 8;
    if (T > max_T) T = max_T;
    b->B = B;
    b->T = T;
    for (int i = 0; i < B; i++) {
        const int* ex = d->tokens + d->off[idx[i]];
        int n = (int)(d->off[idx[i] + 1] - d->off[idx[i]]);
        int np = d->n_prompt[idx[i]];
        int start = 0;
        if (n - 1 > T) {  // keep the end: the response is what is scored
            start = n - 1 - T;
            truncated++;
        }
        int len = n - 1 - start;
        for (int t = 0; t < T; t++) {
            int k = start + t;
            int in = t < len;
            b->tokens[i * T + t] = in ? ex[k] : ex[n - 1];
            // position k predicts token k + 1, scored when it belongs to the response (or is EOS)
            b->targets[i * T + t] = in && k + 1 >= np ? ex[k + 1] : -1;
        }
        if (b->lens) b->lens[i] = len;
    }
    return truncated;
}
