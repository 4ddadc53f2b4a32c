// cmd_eval.c: `slimscope eval`: perplexity of a model (with or without an adapter, at any masking
// ratio) on plain text or on the responses of prompt/response JSONL, and greedy exact-match
// accuracy on prompt/response JSONL (per "task" when the lines carry one). Runs the inference
// engine (forward.h), so it measures exactly what `generate` and the TUI produce.
// Output: one line per result, key=value pairs, e.g.
//   metric=ppl value=23.4567 nll=3.155100 tokens=51234
//   metric=exact value=0.9500 correct=95 total=100
//   metric=exact task=add value=0.9800 correct=49 total=50
#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"
#include "commands.h"
#include "train_cli.h"
#include "data.h"
#include "forward.h"
#include "generation.h"
#include "settings.h"
#include "session.h"

// What only eval takes; the model, adapter, data, SLIM and thread options are the Settings' ones.
typedef struct {
    const char* doc_sep;
    int exact;  // --metric: 0 ppl, 1 exact
    int seq_len, max_new, limit, samples, skip_bad;
} EvalArgs;

#define F(field) offsetof(EvalArgs, field)
static const Option EVAL_OPTIONS[] = {
    {"metric", OPT_CHOICE, F(exact), "ppl|exact", "perplexity, or greedy exact-match accuracy (JSONL only)", 0},
    {"seq-len", OPT_INT, F(seq_len), "N", "ppl on text: window length", 0, "min(256, model maximum)", AT_LEAST(2)},
    {"doc-sep", OPT_STR, F(doc_sep), "TEXT", "ppl on text: document separator (<|endoftext|> lines or blank lines)"},
    {"max-new", OPT_INT, F(max_new), "N", "exact: most tokens generated per answer", 64, AT_LEAST(1)},
    {"limit", OPT_INT, F(limit), "N", "use only the first N examples / windows; 0 = all", 0, AT_LEAST(0)},
    {"samples", OPT_INT, F(samples), "N", "exact: print the first N generations to stderr", 0, AT_LEAST(0)},
    {"skip-bad-lines", OPT_FLAG, F(skip_bad), NULL, "skip malformed JSONL lines"},
    {NULL},
};
#undef F

typedef struct {
    char* prompt;
    char* response;
    char* task;
} Example;

static int load_examples(const char* path, int skip_bad, int limit, Example** out, int* n_out, Err* err) {
    FILE* f = open_input(path, err);
    if (!f) return -1;
    Example* ex = NULL;
    int n = 0, cap = 0, lineno = 0;
    char* line = NULL;
    size_t lcap = 0;
    ssize_t got;
    while ((got = getline(&line, &lcap, f)) >= 0 && (limit <= 0 || n < limit)) {
        lineno++;
        int blank = 1;
        for (ssize_t i = 0; i < got && blank; i++) blank = isspace((unsigned char)line[i]);
        if (blank) continue;
        cJSON* o = cJSON_ParseWithLength(line, got);
        const cJSON* p = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "prompt") : NULL;
        const cJSON* r = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "response") : NULL;
        const cJSON* t = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, "task") : NULL;
        if (!cJSON_IsString(p) || !cJSON_IsString(r)) {
            const char* why = !o ? "not valid JSON" : !cJSON_IsObject(o) ? "not a JSON object"
                              : !cJSON_IsString(p) ? "\"prompt\" is missing or not a string"
                                                   : "\"response\" is missing or not a string";
            cJSON_Delete(o);
            if (!skip_bad) {
                for (int i = 0; i < n; i++) free(ex[i].prompt), free(ex[i].response), free(ex[i].task);
                free(ex);
                free(line);
                fclose(f);
                return err_set(err, "%s:%d: %s (use --skip-bad-lines to skip such lines)", path, lineno, why);
            }
            fprintf(stderr, "warning: %s:%d: %s; line skipped\n", path, lineno, why);
            continue;
        }
        if (n == cap) ex = xrealloc(ex, (cap = cap ? 2 * cap : 256) * sizeof(Example));
        ex[n].prompt = xstrdup(p->valuestring);
        ex[n].response = xstrdup(r->valuestring);
        ex[n].task = cJSON_IsString(t) ? xstrdup(t->valuestring) : NULL;
        n++;
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    if (!n) return err_set(err, "%s: no prompt/response examples", path);
    *out = ex;
    *n_out = n;
    return 0;
}

// Sum of -log p(tokens[i+1] | tokens[..i]) over i in [from, n - 1), in one forward from position 0.
static int score_sequence(const Model* m, const Adapter* a, const SlimRun* run, RunState* rs, const int* ids, int n,
                          int from, float* logits, double* nll, int* count, Err* err) {
    if (n < 2) return 0;
    if (forward(m, a, run, rs, ids, n - 1, 0, logits, 1, NULL, err)) return -1;
    int V = m->cfg.vocab_size;
    for (int i = from < 0 ? 0 : from; i < n - 1; i++) {
        const float* lg = logits + (size_t)i * V;
        float mx = lg[0];
        for (int v = 1; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
        double s = 0;
        for (int v = 0; v < V; v++) s += exp((double)lg[v] - mx);
        *nll += log(s) + mx - lg[ids[i + 1]];
        (*count)++;
    }
    return 0;
}

// Greedy decoding of one answer in eval's own cache, the last position kept free.
typedef struct {
    const Model* m;
    const Adapter* a;
    const SlimRun* run;
    RunState* rs;
    int pos, max_len;
    float* logits;
    int* out;
} Decoding;

static int decoding_feed(void* state, int id, Err* err) {
    Decoding* d = state;
    return forward(d->m, d->a, d->run, d->rs, &id, 1, d->pos++, d->logits, 0, NULL, err);
}
static int decoding_room(const void* state) {
    const Decoding* d = state;
    return d->max_len - 1 - d->pos;
}
static int decoding_collect(void* ctx, int k, int id) {
    ((Decoding*)ctx)->out[k] = id;
    return 0;
}

static char* trim(char* s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

int cmd_eval(int argc, char** argv) {
    EvalArgs A;
    Settings st;
    memset(&A, 0, sizeof A);
    settings_defaults(&st, "eval");
    OptionSet sets[] = {settings_options(&st, "model adapter data mask-ratio mask-seed adapter-mode threads device"), {EVAL_OPTIONS, &A, NULL}};
    int done_status = options_begin("eval", sets, 2, argc, argv,
        "usage: slimscope eval --model DIR [--adapter DIR] --data F --metric ppl|exact [--mask-ratio P]\n"
        "Perplexity on text (or on the responses of JSONL), or greedy exact-match accuracy on JSONL\n"
        "(the generated text up to EOS, trimmed, equals the trimmed response). Prints key=value lines.\n");
    if (done_status >= 0) return done_status;
    Err err;
    if (!st.model_dir || !st.data) {
        fprintf(stderr, "error: eval: --model and --data are required (see slimscope eval --help)\n");
        return 2;
    }
    int exact = A.exact;
    int jsonl = input_is_jsonl(st.data);
    if (exact && !jsonl) {
        fprintf(stderr, "error: eval: --metric exact needs prompt/response JSONL (a .jsonl file)\n");
        return 2;
    }
    ops_set_threads(st.threads > 0 ? st.threads : ops_get_threads());

    int rc = 1;
    Model m;
    memset(&m, 0, sizeof m);
    Tokenizer tok;
    memset(&tok, 0, sizeof tok);
    Adapter a;
    memset(&a, 0, sizeof a);
    SlimRun run;
    memset(&run, 0, sizeof run);
    RunState rs;
    memset(&rs, 0, sizeof rs);
    int have_rs = 0;
    float* logits = NULL;
    Example* ex = NULL;
    int n_ex = 0;
    TextData td;
    memset(&td, 0, sizeof td);
    int *ids = NULL, *gen = NULL;
    const Adapter* ap = NULL;
    Backend* be = NULL;
    Progress prog = {0};

    if (model_load(&m, st.model_dir, &err) || tokenizer_load(&tok, st.model_dir, &err)) goto done;
    if (st.adapter_dir && adapter_load(&a, st.adapter_dir, &m, &err)) goto done;
    ap = st.adapter_dir ? &a : NULL;
    if (ap) {
        slim_run_init(&run, ap, m.cfg.n_layers);
        if (!isnan(st.mask_ratio)) run.mask_ratio = st.mask_ratio;
        if (st.mask_seed >= 0) run.mask_seed = (uint64_t)st.mask_seed;
        run.mode = (AdapterMode)st.adapter_mode;
        if (slim_run_prepare(&run, ap, &err)) goto done;
    } else if (!isnan(st.mask_ratio)) {
        err_set(&err, "--mask-ratio needs an --adapter");
        goto done;
    }
    const SlimRun* rp = ap ? &run : NULL;
    int V = m.cfg.vocab_size;
    int eos = tok.eos_id >= 0 ? tok.eos_id : m.cfg.eos_id;
    double t0 = now_seconds();

    if (!jsonl) {  // perplexity on text: non-overlapping windows of the token stream
        int T = A.seq_len > 0 ? A.seq_len : (m.cfg.max_seq_len < 256 ? m.cfg.max_seq_len : 256);
        if (T > m.cfg.max_seq_len) T = m.cfg.max_seq_len;
        if (text_data_load(&td, st.data, &tok, A.doc_sep, 0.0f, 0, eos, &err)) goto done;
        if (session_open_device(st.device, WEIGHTS_NATIVE, "eval", &be, &err) || runstate_init_on(&rs, be, &m, ap, T, T, &err)) goto done;
        have_rs = 1;
        logits = xmalloc((size_t)T * V * sizeof(float));
        double nll = 0;
        int count = 0, windows = 0;
        long n_windows = td.n_train > 1 ? (long)((td.n_train - 2) / T + 1) : 0;
        progress_begin(&prog, "eval", "windows", A.limit > 0 && A.limit < n_windows ? A.limit : n_windows);
        for (size_t s = 0; s + 1 < td.n_train && (A.limit <= 0 || windows < A.limit); s += T, windows++) {
            progress_step(&prog, windows);
            int n = (int)(td.n_train - s < (size_t)T + 1 ? td.n_train - s : (size_t)T + 1);
            if (score_sequence(&m, ap, rp, &rs, td.train + s, n, 0, logits, &nll, &count, &err)) goto done;
        }
        progress_end(&prog);
        if (!count) {
            err_set(&err, "%s: not enough tokens to score", st.data);
            goto done;
        }
        printf("metric=ppl value=%.4f nll=%.6f tokens=%d\n", exp(nll / count), nll / count, count);
        fprintf(stderr, "[%d windows of %d tokens in %.1f s]\n", windows, T, now_seconds() - t0);
        rc = 0;
        goto done;
    }

    if (load_examples(st.data, A.skip_bad, A.limit, &ex, &n_ex, &err)) goto done;
    int max_len = 0;
    int** enc = xcalloc(n_ex, sizeof(int*));
    int *enc_n = xcalloc(n_ex, sizeof(int)), *enc_np = xcalloc(n_ex, sizeof(int));
    for (int i = 0; i < n_ex; i++) {
        if (sft_encode(&tok, ex[i].prompt, ex[i].response, eos, &enc[i], &enc_n[i], &enc_np[i], &err)) {
            for (int k = 0; k < i; k++) free(enc[k]);
            free(enc), free(enc_n), free(enc_np);
            goto done;
        }
        int need = exact ? enc_np[i] + A.max_new : enc_n[i];
        max_len = need > max_len ? need : max_len;
    }
    if (max_len > m.cfg.max_seq_len) max_len = m.cfg.max_seq_len;
    if (session_open_device(st.device, WEIGHTS_NATIVE, "eval", &be, &err) || runstate_init_on(&rs, be, &m, ap, max_len, max_len, &err))
        goto done;
    have_rs = 1;
    logits = xmalloc((size_t)max_len * V * sizeof(float));
    if (!exact) {  // perplexity of the responses given their prompts
        double nll = 0;
        int count = 0, fail = 0;
        progress_begin(&prog, "eval", "examples", n_ex);
        for (int i = 0; i < n_ex && !fail; i++) {
            progress_step(&prog, i);
            int n = enc_n[i] < max_len + 1 ? enc_n[i] : max_len + 1;
            fail = score_sequence(&m, ap, rp, &rs, enc[i], n, enc_np[i] - 1, logits, &nll, &count, &err);
        }
        progress_end(&prog);
        for (int k = 0; k < n_ex; k++) free(enc[k]);
        free(enc), free(enc_n), free(enc_np);
        if (fail) goto done;
        printf("metric=ppl value=%.4f nll=%.6f tokens=%d\n", count ? exp(nll / count) : NAN, count ? nll / count : NAN, count);
        rc = 0;
        goto done;
    }
    // exact match: greedy decoding until EOS (or --max-new tokens), decoded, trimmed, compared
    gen = xmalloc((A.max_new + 1) * sizeof(int));
    char** tasks = xcalloc(n_ex + 1, sizeof(char*));
    int *t_ok = xcalloc(n_ex + 1, sizeof(int)), *t_n = xcalloc(n_ex + 1, sizeof(int));
    int n_tasks = 0, correct = 0, fail = 0;
    Sampler greedy;
    sampler_init(&greedy, V, 0, 1, 0);
    progress_begin(&prog, "eval", "examples", n_ex);
    for (int i = 0; i < n_ex && !fail; i++) {
        progress_step(&prog, i);
        int np = enc_np[i] < max_len ? enc_np[i] : max_len;
        int ng = 0;
        fail = forward(&m, ap, rp, &rs, enc[i], np, 0, logits, 0, NULL, &err);
        if (!fail && np < max_len) {
            Decoding d = {&m, ap, rp, &rs, np, max_len, logits, gen};
            Generation g = {.n_new = A.max_new, .eos = eos, .sampler = &greedy, .feed = decoding_feed, .room = decoding_room,
                            .logits = logits, .state = &d, .on_token = decoding_collect, .ctx = &d};
            fail = generation_run(&g, &ng, &err) == GEN_ERROR;
        }
        if (fail) break;
        char* text = tokenizer_decode(&tok, gen, ng, 1);
        char* want = xstrdup(ex[i].response);
        int ok = !strcmp(trim(text), trim(want));
        if (i < A.samples) {
            progress_end(&prog);  // the sample goes on a line of its own
            fprintf(stderr, "[%d] %s | got: %s | want: %s\n", i, ok ? "ok  " : "MISS", trim(text), trim(want));
        }
        free(text), free(want);
        correct += ok;
        const char* task = ex[i].task ? ex[i].task : "";
        int k = 0;
        while (k < n_tasks && strcmp(tasks[k], task)) k++;
        if (k == n_tasks) tasks[n_tasks++] = (char*)task;
        t_ok[k] += ok, t_n[k]++;
    }
    sampler_free(&greedy);
    progress_end(&prog);
    for (int k = 0; k < n_ex; k++) free(enc[k]);
    free(enc), free(enc_n), free(enc_np);
    if (!fail) {
        printf("metric=exact value=%.4f correct=%d total=%d\n", (double)correct / n_ex, correct, n_ex);
        for (int k = 0; k < n_tasks && (n_tasks > 1 || tasks[0][0]); k++)
            printf("metric=exact task=%s value=%.4f correct=%d total=%d\n", tasks[k][0] ? tasks[k] : "(none)",
                   (double)t_ok[k] / t_n[k], t_ok[k], t_n[k]);
        fprintf(stderr, "[%d examples in %.1f s]\n", n_ex, now_seconds() - t0);
        rc = 0;
    }
    free(tasks), free(t_ok), free(t_n);
done:
    progress_end(&prog);
    if (rc) fprintf(stderr, "error: %s\n", err.msg);
    free(ids);
    free(gen);
    free(logits);
    for (int i = 0; i < n_ex; i++) free(ex[i].prompt), free(ex[i].response), free(ex[i].task);
    free(ex);
    text_data_free(&td);
    if (have_rs) runstate_free(&rs);
    if (ap) slim_run_free(&run);
    adapter_free(&a);
    tokenizer_free(&tok);
    model_free(&m);
    return rc;
}
