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

#include "commands.h"
#include "train_cli.h"
#include "data.h"
#include "forward.h"
#include "session.h"

typedef struct {
    const char *model, *adapter, *data, *metric, *adapter_mode, *doc_sep, *device;
    float mask_ratio;
    uint64_t mask_seed;
    int seq_len, max_new, limit, threads, samples, skip_bad;
} EvalArgs;

typedef struct {
    char* prompt;
    char* response;
    char* task;
} Example;

static int load_examples(const char* path, int skip_bad, int limit, Example** out, int* n_out, Err* err) {
    if (require_regular_file(path, NULL, err)) return -1;  // a FIFO would block fopen()
    FILE* f = fopen(path, "rb");
    if (!f) return err_set(err, "%s: cannot open", path);
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

static char* trim(char* s) {
    while (isspace((unsigned char)*s)) s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    return s;
}

int cmd_eval(int argc, char** argv) {
    EvalArgs A;
    memset(&A, 0, sizeof A);
    A.metric = "ppl", A.mask_ratio = NAN, A.max_new = 64;
    long long mask_seed_set = 0;
    Opt opts[] = {
        {"model", OPT_STR, &A.model, "model directory (with its tokenizer)", 0},
        {"adapter", OPT_STR, &A.adapter, "adapter directory (SLIM or PEFT LoRA)", 0},
        {"data", OPT_STR, &A.data, "text file (ppl) or prompt/response JSONL (ppl on responses, exact)", 0},
        {"metric", OPT_STR, &A.metric, "ppl | exact (ppl)", 0},
        {"mask-ratio", OPT_FLOAT, &A.mask_ratio, "masking ratio p of the adapter (its config's by default)", 0},
        {"mask-seed", OPT_U64, &A.mask_seed, "mask seed (the adapter's by default)", 0},
        {"adapter-mode", OPT_STR, &A.adapter_mode, "slim | off | lora-only | identity-only (slim)", 0},
        {"seq-len", OPT_INT, &A.seq_len, "ppl on text: window length (min(256, model maximum))", 0},
        {"doc-sep", OPT_STR, &A.doc_sep, "ppl on text: document separator (<|endoftext|> lines or blank lines)", 0},
        {"max-new", OPT_INT, &A.max_new, "exact: most tokens generated per answer (64)", 0},
        {"limit", OPT_INT, &A.limit, "use only the first N examples / windows", 0},
        {"samples", OPT_INT, &A.samples, "exact: print the first N generations to stderr", 0},
        {"skip-bad-lines", OPT_FLAG, &A.skip_bad, "skip malformed JSONL lines", 0},
        {"threads", OPT_INT, &A.threads, "threads (all cores)", 0},
        {"device", OPT_STR, &A.device, "cpu | cuda | auto: where the forward passes run (auto)", 0},
        {NULL, 0, NULL, NULL, 0},
    };
    int done_status = opts_begin(opts, argc, argv,
        "usage: slimscope eval --model DIR [--adapter DIR] --data F --metric ppl|exact [--mask-ratio P]\n"
        "Perplexity on text (or on the responses of JSONL), or greedy exact-match accuracy on JSONL\n"
        "(the generated text up to EOS, trimmed, equals the trimmed response). Prints key=value lines.\n\n"
        "options:\n");
    if (done_status >= 0) return done_status;
    Err err;
    mask_seed_set = opts_seen(opts, "mask-seed");
    if (!A.model || !A.data) {
        fprintf(stderr, "error: eval: --model and --data are required (see slimscope eval --help)\n");
        return 2;
    }
    int device = A.device ? device_from_name(A.device) : DEVICE_AUTO;
    if (device < 0) {
        fprintf(stderr, "error: eval: --device expects cpu, cuda or auto, got '%s'\n", A.device);
        return 2;
    }
    int exact = !strcmp(A.metric, "exact");
    if (!exact && strcmp(A.metric, "ppl")) {
        fprintf(stderr, "error: eval: --metric must be ppl or exact, got '%s'\n", A.metric);
        return 2;
    }
    size_t dl = strlen(A.data);
    int jsonl = dl > 6 && !strcmp(A.data + dl - 6, ".jsonl");
    if (exact && !jsonl) {
        fprintf(stderr, "error: eval: --metric exact needs prompt/response JSONL (a .jsonl file)\n");
        return 2;
    }
    ops_set_threads(A.threads > 0 ? A.threads : ops_get_threads());

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

    if (model_load(&m, A.model, &err) || tokenizer_load(&tok, A.model, &err)) goto done;
    if (A.adapter && adapter_load(&a, A.adapter, &m, &err)) goto done;
    ap = A.adapter ? &a : NULL;
    if (ap) {
        slim_run_init(&run, ap, m.cfg.n_layers);
        if (!isnan(A.mask_ratio)) run.mask_ratio = A.mask_ratio;
        if (mask_seed_set) run.mask_seed = A.mask_seed;
        if (A.adapter_mode) {
            int md = adapter_mode_from_name(A.adapter_mode);
            if (md < 0) {
                err_set(&err, "--adapter-mode: expected slim, off, lora-only or identity-only, got '%s'", A.adapter_mode);
                goto done;
            }
            run.mode = (AdapterMode)md;
        }
        if (slim_run_prepare(&run, ap, &err)) goto done;
    } else if (!isnan(A.mask_ratio)) {
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
        if (text_data_load(&td, A.data, &tok, A.doc_sep, 0.0f, 0, eos, &err)) goto done;
        if (session_open_device(device, WEIGHTS_NATIVE, "eval", &be, &err) || runstate_init_on(&rs, be, &m, ap, T, T, &err)) goto done;
        have_rs = 1;
        logits = xmalloc((size_t)T * V * sizeof(float));
        double nll = 0;
        int count = 0, windows = 0;
        for (size_t s = 0; s + 1 < td.n_train && (A.limit <= 0 || windows < A.limit); s += T, windows++) {
            int n = (int)(td.n_train - s < (size_t)T + 1 ? td.n_train - s : (size_t)T + 1);
            if (score_sequence(&m, ap, rp, &rs, td.train + s, n, 0, logits, &nll, &count, &err)) goto done;
        }
        if (!count) {
            err_set(&err, "%s: not enough tokens to score", A.data);
            goto done;
        }
        printf("metric=ppl value=%.4f nll=%.6f tokens=%d\n", exp(nll / count), nll / count, count);
        fprintf(stderr, "[%d windows of %d tokens in %.1f s]\n", windows, T, now_seconds() - t0);
        rc = 0;
        goto done;
    }

    if (load_examples(A.data, A.skip_bad, A.limit, &ex, &n_ex, &err)) goto done;
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
    if (session_open_device(device, WEIGHTS_NATIVE, "eval", &be, &err) || runstate_init_on(&rs, be, &m, ap, max_len, max_len, &err))
        goto done;
    have_rs = 1;
    logits = xmalloc((size_t)max_len * V * sizeof(float));
    if (!exact) {  // perplexity of the responses given their prompts
        double nll = 0;
        int count = 0, fail = 0;
        for (int i = 0; i < n_ex && !fail; i++) {
            int n = enc_n[i] < max_len + 1 ? enc_n[i] : max_len + 1;
            fail = score_sequence(&m, ap, rp, &rs, enc[i], n, enc_np[i] - 1, logits, &nll, &count, &err);
        }
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
    for (int i = 0; i < n_ex && !fail; i++) {
        int np = enc_np[i] < max_len ? enc_np[i] : max_len;
        int ng = 0;
        fail = forward(&m, ap, rp, &rs, enc[i], np, 0, logits, 0, NULL, &err);
        while (!fail && ng < A.max_new && np + ng < max_len) {
            int best = 0;
            for (int v = 1; v < V; v++) best = logits[v] > logits[best] ? v : best;
            if (best == eos) break;
            gen[ng++] = best;
            if (np + ng < max_len) fail = forward(&m, ap, rp, &rs, &best, 1, np + ng - 1, logits, 0, NULL, &err);
        }
        if (fail) break;
        char* text = tokenizer_decode(&tok, gen, ng, 1);
        char* want = xstrdup(ex[i].response);
        int ok = !strcmp(trim(text), trim(want));
        if (i < A.samples)
            fprintf(stderr, "[%d] %s | got: %s | want: %s\n", i, ok ? "ok  " : "MISS", trim(text), trim(want));
        free(text), free(want);
        correct += ok;
        const char* task = ex[i].task ? ex[i].task : "";
        int k = 0;
        while (k < n_tasks && strcmp(tasks[k], task)) k++;
        if (k == n_tasks) tasks[n_tasks++] = (char*)task;
        t_ok[k] += ok, t_n[k]++;
    }
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
