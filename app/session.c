// session.c: model + tokenizer + adapter + context, for the TUI and the batch commands alike.
#include "session.h"

#include "device.h"
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int session_alloc_state(Session* s, int max_seq, Err* err) {
    const Adapter* a = s->has_adapter ? &s->adapter : NULL;
    if (runstate_init_on(&s->rs, s->be, &s->model, a, max_seq, 0, err)) return -1;
    if (runstate_init_on(&s->aux, s->be, &s->model, a, max_seq, 0, err)) return -1;
    trace_init(&s->trace, s->model.cfg.n_layers, a ? a->n_experts : 1, a ? a->n_id : 0, 64);
    return 0;
}

static int apply_settings(Session* s, const Settings* st, Err* err) {
    Adapter* a = s->has_adapter ? &s->adapter : NULL;
    int L = s->model.cfg.n_layers;
    slim_run_free(&s->run);
    slim_run_init(&s->run, a, L);
    s->run.mode = (AdapterMode)st->adapter_mode;
    if (!isnan(st->mask_ratio)) s->run.mask_ratio = st->mask_ratio;
    if (st->mask_seed >= 0) s->run.mask_seed = (uint64_t)st->mask_seed;
    if (st->mask_refresh >= 0) s->run.mask_refresh = (MaskRefresh)st->mask_refresh;
    for (int i = 0; i < st->n_force; i++) {
        int l = st->force_layer[i];
        const char* name = st->force_expert[i];
        if (!a) return err_set(err, "--force needs an --adapter");
        if (l >= L) return err_set(err, "--force %d:%s: block %d does not exist (0..%d)", l, name, l, L - 1);
        int e = slim_expert_parse(name, a->n_id, a->n_experts);
        char names[64];
        if (e < 0)
            return err_set(err, "--force %d:%s: expert %s does not exist (%s)", l, name, name, slim_expert_range(names, sizeof names, a->n_id, a->n_experts));
        s->run.force[l] = e;
    }
    if (st->adapter_layers && parse_layer_set(st->adapter_layers, s->run.layer_on, L, err)) return -1;
    return slim_run_prepare(&s->run, a, err);
}

int session_open_device(DeviceKind kind, int weights, const char* cmd, Backend** be, Err* err) {
    *be = backend_cpu();
    if (weights == WEIGHTS_Q8) {
        if (kind == DEVICE_CUDA) return err_set(err, "%s: --device cuda: Q8_0 weights (--weights q8) run on the CPU only; use --weights native or f32", cmd);
        return 0;  // auto: the CPU, as asked for by --weights q8
    }
    char note[1200];
    Err why;
    if (device_open(kind, be, note, sizeof note, &why)) return err_set(err, "%s: %s", cmd, why.msg);
    if (note[0]) fprintf(stderr, "slimscope: %s\n", note);
    return 0;
}

int session_open(Session* s, const Settings* st, Err* err) {
    memset(s, 0, sizeof *s);
    if (!st->model_dir) return err_set(err, "%s: --model DIR is required", st->cmd);
    if (st->threads) ops_set_threads(st->threads);
    s->threads = ops_get_threads();
    if (model_load_as(&s->model, st->model_dir, (WeightsMode)st->weights, err)) return -1;
    char path[4200];
    if (file_exists(path_join(path, sizeof path, st->model_dir, "tokenizer.json"))) {
        if (tokenizer_load(&s->tok, st->model_dir, err)) goto fail;
        s->has_tok = 1;
    }
    if (st->adapter_dir) {
        if (adapter_load(&s->adapter, st->adapter_dir, &s->model, err)) goto fail;
        s->has_adapter = 1;
    }
    for (int i = 0; i < st->n_ids; i++)  // bad ids are reported before anything runs
        if (st->ids[i] >= s->model.cfg.vocab_size) {
            err_set(err, "--ids: token id %d at index %d is outside the vocabulary (0..%d)", st->ids[i], i, s->model.cfg.vocab_size - 1);
            goto fail;
        }
    // the device is opened once everything else is validated: a bad input gives its one line alone
    if (apply_settings(s, st, err) || session_open_device((DeviceKind)st->device, st->weights, st->cmd, &s->be, err)) goto fail;
    int max_seq = st->max_seq ? st->max_seq : s->model.cfg.max_seq_len < 4096 ? s->model.cfg.max_seq_len : 4096;
    s->max_seq = max_seq;
    if (session_alloc_state(s, max_seq, err)) goto fail;
    s->tokens = xmalloc(max_seq * sizeof(int));
    s->generated = xcalloc(max_seq, 1);
    s->logits = xcalloc(s->model.cfg.vocab_size, sizeof(float));
    s->trace.want_lens = st->lens;
    if (st->max_seq > s->model.cfg.max_seq_len)  // allowed (RoPE extends), but the model never saw those positions
        fprintf(stderr, "slimscope: %s: --ctx %d is above the model's maximum of %d positions (max_position_embeddings)\n", st->cmd,
                st->max_seq, s->model.cfg.max_seq_len);
    return 0;
fail:
    session_close(s);
    return -1;
}

int session_open_cmd(Session* s, Settings* st) {
    Err err;
    if (session_open(s, st, &err) == 0) return 0;
    fprintf(stderr, "%s\n", err.msg);
    settings_free(st);
    return 1;
}

void session_close(Session* s) {
    session_compare_free(s);  // the caches end below, all of them: nothing to re-make
    runstate_free(&s->rs);
    runstate_free(&s->aux);
    trace_free(&s->trace);
    slim_run_free(&s->run);
    if (s->has_adapter) adapter_free(&s->adapter);
    if (s->has_tok) tokenizer_free(&s->tok);
    model_free(&s->model);
    free(s->tokens);
    free(s->generated);
    free(s->logits);
    memset(s, 0, sizeof *s);
}

int session_apply_run(Session* s, Err* err) { return slim_run_prepare(&s->run, s->has_adapter ? &s->adapter : NULL, err); }

int session_load_adapter(Session* s, const char* dir, Err* err) {
    Adapter fresh;
    if (dir && adapter_load(&fresh, dir, &s->model, err)) return -1;  // the old adapter stays on failure
    if (s->has_adapter) adapter_free(&s->adapter);
    s->has_adapter = dir != NULL;
    if (dir) s->adapter = fresh;
    const Adapter* a = s->has_adapter ? &s->adapter : NULL;
    SlimRun old = s->run;
    slim_run_init(&s->run, a, s->model.cfg.n_layers);
    s->run.mode = old.mode;
    s->run.mask_ratio = old.mask_ratio;
    s->run.mask_seed = old.mask_seed;
    slim_run_free(&old);
    return session_reopen_states(s, err);
}

int session_reopen_states(Session* s, Err* err) {
    int want_lens = s->trace.want_lens;
    runstate_free(&s->rs);
    runstate_free(&s->aux);
    trace_free(&s->trace);
    if (session_alloc_state(s, s->max_seq, err)) return -1;
    s->trace.want_lens = want_lens;
    if (session_apply_run(s, err)) return -1;
    return session_recompute(s, err);
}

int session_encode(Session* s, const char* text, int add_special, int** ids, int* n, Err* err) {
    if (!s->has_tok) return err_set(err, "%s: no tokenizer.json: give token ids with --ids", s->model.dir);
    return tokenizer_encode(&s->tok, text, strlen(text), add_special, ids, n, err);
}

int session_prompt_ids(Session* s, const Settings* st, int** ids, int* n, Err* err) {
    *ids = NULL;
    *n = 0;
    if (st->n_ids) {
        *ids = xmalloc(st->n_ids * sizeof(int));
        memcpy(*ids, st->ids, st->n_ids * sizeof(int));
        *n = st->n_ids;
    } else if (!st->prompt && !st->prompt_file) {
        return err_set(err, "%s: give a prompt with --prompt TEXT or --ids 1,2,3", st->cmd);
    } else {
        char* text = NULL;
        const char* path = st->prompt_file ? st->prompt_file : !strcmp(st->prompt, "-") ? "-" : NULL;
        if (path) {  // --prompt - or --file F: the file's text, less one final newline
            size_t len;
            if (!(text = read_file_text(path, &len, err))) return -1;
            if (len && text[len - 1] == '\n') text[len - 1] = 0;
        }
        int rc = session_encode(s, text ? text : st->prompt, 1, ids, n, err);
        free(text);
        if (rc) return -1;
        if (*n == 0) {
            free(*ids);
            *ids = NULL;  // the caller frees *ids on every path
            return err_set(err, "%s: the prompt encodes to no tokens", st->cmd);
        }
    }
    if (*n > s->rs.max_seq) {
        err_set(err, "%s: prompt is %d tokens; the context holds %d (--ctx)", st->cmd, *n, s->rs.max_seq);
        free(*ids);
        *ids = NULL;
        return -1;
    }
    return 0;
}

// Appends and runs ids; their positions are marked generated (1), prompt (0), or left as they were (-1:
// a recomputation).
static int feed_marked(Session* s, const int* ids, int n, int mark, Err* err) {
    if (n <= 0) return 0;
    if (s->n_tokens + n > s->rs.max_seq)
        return err_set(err, "context full: %d + %d tokens exceed %d positions (use --ctx or :reset)", s->n_tokens, n, s->rs.max_seq);
    const Adapter* a = s->has_adapter ? &s->adapter : NULL;
    Trace* tr = s->untraced ? NULL : &s->trace;
    if (forward(&s->model, a, &s->run, &s->rs, ids, n, s->n_tokens, s->logits, 0, tr, err)) return -1;
    memcpy(s->tokens + s->n_tokens, ids, n * sizeof(int));
    if (mark >= 0) memset(s->generated + s->n_tokens, mark, n);
    s->n_tokens += n;
    if (tr) s->trace.n = s->n_tokens;
    return 0;
}

int session_feed(Session* s, const int* ids, int n, Err* err) { return feed_marked(s, ids, n, 0, err); }

int session_recompute(Session* s, Err* err) {
    int n = s->n_tokens;
    s->n_tokens = 0;
    trace_reset(&s->trace);
    if (n == 0) return 0;
    int* ids = xmalloc(n * sizeof(int));
    memcpy(ids, s->tokens, n * sizeof(int));
    int rc = feed_marked(s, ids, n, -1, err);
    free(ids);
    return rc;
}

void session_reset(Session* s) {
    s->n_tokens = 0;
    trace_reset(&s->trace);
    memset(s->logits, 0, s->model.cfg.vocab_size * sizeof(float));
}

int session_logits_at(Session* s, int pos, const SlimRun* run, float* logits, Err* err) {
    if (pos < 0 || pos >= s->n_tokens) return err_set(err, "position %d is outside the context (0..%d)", pos, s->n_tokens - 1);
    const Adapter* a = s->has_adapter && run ? &s->adapter : NULL;
    return forward(&s->model, a, run, &s->aux, s->tokens, pos + 1, 0, logits, 0, NULL, err);
}

const char* session_token_text(Session* s, int id, char* buf, size_t n) {
    if (s->has_tok) {
        char* t = tokenizer_decode(&s->tok, &id, 1, 0);
        snprintf(buf, n, "%s", t);
        free(t);
    } else {
        snprintf(buf, n, "#%d", id);
    }
    return buf;
}

// ---------------------------------------------------------------------------------------------
// For the TUI: what-if computations in the auxiliary cache, and trace summaries

int session_run_copy(Session* s, SlimRun* dst, const SlimRun* src, float p, Err* err) {
    const Adapter* a = s->has_adapter ? &s->adapter : NULL;
    int L = s->model.cfg.n_layers;
    slim_run_init(dst, a, L);
    dst->mode = src->mode;
    dst->mask_seed = src->mask_seed;
    dst->mask_refresh = src->mask_refresh;
    dst->step = src->step;
    if (src->force) memcpy(dst->force, src->force, L * sizeof(int));
    if (src->layer_on) memcpy(dst->layer_on, src->layer_on, L);
    dst->mask_ratio = p;
    return slim_run_prepare(dst, a, err);
}

int session_probe_at(Session* s, int pos, const SlimRun* run, float* logits, int* lens_id, float* lens_p, Err* err) {
    if (pos < 0 || pos >= s->n_tokens) return err_set(err, "position %d is outside the context (0..%d)", pos, s->n_tokens - 1);
    const Adapter* a = s->has_adapter && run ? &s->adapter : NULL;
    if (!lens_id) return forward(&s->model, a, run, &s->aux, s->tokens, pos + 1, 0, logits, 0, NULL, err);
    // the prefix without a trace, then position pos alone with the lens recorded
    if (pos > 0 && forward(&s->model, a, run, &s->aux, s->tokens, pos, 0, logits, 0, NULL, err)) return -1;
    Trace tr;
    int L = s->model.cfg.n_layers;
    trace_init(&tr, L, a ? a->n_experts : 1, a ? a->n_id : 0, pos + 1);
    tr.want_lens = 1;
    int rc = forward(&s->model, a, run, &s->aux, s->tokens + pos, 1, pos, logits, 0, &tr, err);
    if (!rc) {
        memcpy(lens_id, tr.lens_id + (size_t)pos * L, L * sizeof(int));
        memcpy(lens_p, tr.lens_p + (size_t)pos * L, L * sizeof(float));
    }
    trace_free(&tr);
    return rc;
}

int session_context_logits(Session* s, const SlimRun* run, int from, float* out, Err* err) {
    int n = s->n_tokens;
    if (from < 0 || from >= n) return err_set(err, "position %d is outside the context (0..%d)", from, n - 1);
    const Adapter* a = s->has_adapter && run ? &s->adapter : NULL;
    if (from > 0 && forward(&s->model, a, run, &s->aux, s->tokens, from, 0, out, 0, NULL, err)) return -1;
    return forward(&s->model, a, run, &s->aux, s->tokens + from, n - from, from, out, 1, NULL, err);
}

void session_compare_logits(const float* p_logits, const float* q_logits, int n, int V, double* kl_mean, double* top1_agree) {
    double kl = 0, agree = 0;
    for (int t = 0; t < n; t++) {
        const float *p = p_logits + (size_t)t * V, *q = q_logits + (size_t)t * V;
        kl += kl_logits(p, q, V);
        agree += argmax(p, V) == argmax(q, V);
    }
    *kl_mean = n ? kl / n : 0;
    *top1_agree = n ? agree / n : 0;
}

int session_truncate(Session* s, int n, Err* err) {
    if (n >= s->n_tokens) return 0;
    if (n <= 0) {
        session_reset(s);
        return 0;
    }
    s->n_tokens = n;
    s->trace.n = n;
    // recompute position n-1 (its KV row is rewritten with the same values) for the logits after it
    const Adapter* a = s->has_adapter ? &s->adapter : NULL;
    return forward(&s->model, a, &s->run, &s->rs, s->tokens + n - 1, 1, n - 1, s->logits, 0, &s->trace, err);
}

static int feed_context(void* state, int id, Err* err) { return feed_marked(state, &id, 1, 1, err); }
static int context_room(const void* state) {
    const Session* s = state;
    return s->rs.max_seq - s->n_tokens;
}

void session_generation(Session* s, Generation* g, Sampler* sm, int n_new, unsigned flags) {
    *g = (Generation){.n_new = n_new, .flags = flags, .sampler = sm, .feed = feed_context, .room = context_room,
                      .logits = s->logits, .state = s};
    g->eos = session_eos(s);
}

int session_eos(const Session* s) { return s->has_tok ? s->tok.eos_id : s->model.cfg.eos_id; }

void session_report_full(const Session* s, const char* cmd, int produced, int asked) {
    fprintf(stderr, "%s: stopped at the context limit of %d positions after %d of the %d tokens asked for (--ctx)\n", cmd,
            s->rs.max_seq, produced, asked);
}

// The auxiliary cache as a Generation state: tokens go to out, positions after `start`.
typedef struct {
    Session* s;
    const Adapter* a;
    const SlimRun* run;
    int pos;  // positions in the cache
    int* out;
    float* logits;
} AuxState;

static int feed_aux(void* state, int id, Err* err) {
    AuxState* x = state;
    return forward(&x->s->model, x->a, x->run, &x->s->aux, &id, 1, x->pos++, x->logits, 0, NULL, err);
}
// one position of the cache stays free
static int aux_room(const void* state) {
    const AuxState* x = state;
    return x->s->aux.max_seq - 1 - x->pos;
}
static int aux_collect(void* ctx, int k, int id) {
    ((AuxState*)ctx)->out[k] = id;
    return 0;
}

int session_continue_aux(Session* s, const SlimRun* run, int start, int count, Sampler* sm, int eos, int* out, Err* err) {
    if (start <= 0 || start > s->n_tokens) return err_set(err, "cannot continue from position %d (context has %d tokens)", start, s->n_tokens);
    int V = s->model.cfg.vocab_size;
    AuxState x = {s, s->has_adapter && run ? &s->adapter : NULL, run, start, out, xmalloc(V * sizeof(float))};
    int n = 0, rc = forward(&s->model, x.a, run, &s->aux, s->tokens, start, 0, x.logits, 0, NULL, err);
    if (!rc) {
        Generation g = {.n_new = count, .eos = eos, .sampler = sm, .feed = feed_aux, .room = aux_room, .logits = x.logits,
                        .state = &x, .on_token = aux_collect, .ctx = &x};
        rc = generation_run(&g, &n, err) == GEN_ERROR ? -1 : 0;
    }
    free(x.logits);
    return rc ? -1 : n;
}

int session_plain_lora_on(const Trace* t, size_t pl) {
    // a plain LoRA trace has one expert and no identity ones; w = 1 where it was applied
    return !t->routed[pl] && t->n_experts == 1 && t->n_id == 0 && t->w[pl] > 0;
}

float session_mean_id_share(const Trace* t, int pos) {
    int L = t->n_layers, k = 0;
    double sum = 0;
    for (int l = 0; l < L; l++) {
        size_t pl = (size_t)pos * L + l;
        if (!t->routed[pl] && !session_plain_lora_on(t, pl)) continue;
        sum += t->id_share[pl];
        k++;
    }
    return k ? (float)(sum / k) : 1.0f;
}

int session_dominant_expert(const Trace* t, int pos, int l) {
    size_t pl = (size_t)pos * t->n_layers + l;
    if (session_plain_lora_on(t, pl)) return 0;
    if (!t->routed[pl]) return -2;
    if (t->id_share[pl] >= 0.5f) return -1;
    const float* w = t->w + pl * t->n_experts;
    int best = t->n_id;
    for (int e = t->n_id; e < t->n_experts; e++)
        if (w[e] > w[best]) best = e;
    return best - t->n_id;
}

float session_identity_win_d(const Trace* t, int pos, int l, YieldMap y) {
    size_t pl = (size_t)pos * t->n_layers + l;
    if (!t->routed[pl] || y.gamma == 0 || t->n_id == 0 || t->n_id == t->n_experts) return NAN;
    const float* z = t->z + pl * t->n_experts;
    float id_max = -INFINITY, lora_max = -INFINITY;
    for (int e = 0; e < t->n_experts; e++) {
        if (e < t->n_id) id_max = z[e] > id_max ? z[e] : id_max;
        else lora_max = z[e] > lora_max ? z[e] : lora_max;
    }
    // identity is top-1 once id_max + yield(d) >= lora_max (ties go to the lower index: identity);
    // the yield is gamma * d in the paper's form, gamma * (d - q50) / (q90 - q50) calibrated
    return slim_yield_inverse(y, lora_max - id_max);
}
