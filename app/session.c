// session.c: model + tokenizer + adapter + context, for the TUI and the batch commands alike.
#include "session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int session_alloc_state(Session* s, int max_seq, Err* err) {
    const Adapter* a = s->has_adapter ? &s->adapter : NULL;
    if (runstate_init(&s->rs, &s->model, a, max_seq, 64, err)) return -1;
    if (runstate_init(&s->aux, &s->model, a, max_seq, 64, err)) return -1;
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
        if (!a) return err_set(err, "--force needs an --adapter");
        if (st->force_layer[i] >= L) return err_set(err, "--force %d:%d: block %d does not exist (0..%d)", st->force_layer[i], st->force_expert[i], st->force_layer[i], L - 1);
        if (st->force_expert[i] >= a->n_experts)
            return err_set(err, "--force %d:%d: expert %d does not exist (0..%d)", st->force_layer[i], st->force_expert[i], st->force_expert[i], a->n_experts - 1);
        s->run.force[st->force_layer[i]] = st->force_expert[i];
    }
    if (st->adapter_layers && parse_layer_set(st->adapter_layers, s->run.layer_on, L, err)) return -1;
    return slim_run_prepare(&s->run, a, err);
}

int session_open(Session* s, const Settings* st, Err* err) {
    memset(s, 0, sizeof *s);
    if (!st->model_dir) return err_set(err, "%s: --model DIR is required", st->cmd);
    if (st->threads) forward_set_threads(st->threads);
    s->threads = forward_get_threads();
    if (model_load(&s->model, st->model_dir, err)) return -1;
    char path[4200];
    if (file_exists(path_join(path, sizeof path, st->model_dir, "tokenizer.json"))) {
        if (tokenizer_load(&s->tok, st->model_dir, err)) goto fail;
        s->has_tok = 1;
    }
    if (st->adapter_dir) {
        if (adapter_load(&s->adapter, st->adapter_dir, &s->model, err)) goto fail;
        s->has_adapter = 1;
    }
    int max_seq = st->max_seq ? st->max_seq : s->model.cfg.max_seq_len < 4096 ? s->model.cfg.max_seq_len : 4096;
    if (session_alloc_state(s, max_seq, err)) goto fail;
    s->tokens = xmalloc(max_seq * sizeof(int));
    s->logits = xcalloc(s->model.cfg.vocab_size, sizeof(float));
    s->trace.want_lens = st->lens;
    if (apply_settings(s, st, err)) goto fail;
    return 0;
fail:
    session_close(s);
    return -1;
}

void session_close(Session* s) {
    runstate_free(&s->rs);
    runstate_free(&s->aux);
    trace_free(&s->trace);
    slim_run_free(&s->run);
    if (s->has_adapter) adapter_free(&s->adapter);
    if (s->has_tok) tokenizer_free(&s->tok);
    model_free(&s->model);
    free(s->tokens);
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
    int max_seq = s->rs.max_seq, want_lens = s->trace.want_lens;
    runstate_free(&s->rs);
    runstate_free(&s->aux);
    trace_free(&s->trace);
    if (session_alloc_state(s, max_seq, err)) return -1;
    s->trace.want_lens = want_lens;
    if (session_apply_run(s, err)) return -1;
    return session_recompute(s, err);
}

int session_encode(Session* s, const char* text, int add_special, int** ids, int* n, Err* err) {
    if (!s->has_tok) return err_set(err, "%s: no tokenizer.json: give token ids with --ids", s->model.dir);
    return tokenizer_encode(&s->tok, text, strlen(text), add_special, ids, n, err);
}

int session_prompt_ids(Session* s, const Settings* st, int** ids, int* n, Err* err) {
    if (st->n_ids) {
        *ids = xmalloc(st->n_ids * sizeof(int));
        memcpy(*ids, st->ids, st->n_ids * sizeof(int));
        *n = st->n_ids;
        return 0;
    }
    if (!st->prompt) return err_set(err, "%s: give a prompt with --prompt TEXT or --ids 1,2,3", st->cmd);
    if (session_encode(s, st->prompt, 1, ids, n, err)) return -1;
    if (*n == 0) {
        free(*ids);
        return err_set(err, "%s: the prompt encodes to no tokens", st->cmd);
    }
    return 0;
}

int session_feed(Session* s, const int* ids, int n, Err* err) {
    if (n <= 0) return 0;
    if (s->n_tokens + n > s->rs.max_seq)
        return err_set(err, "context full: %d + %d tokens exceed %d positions (use --ctx or :reset)", s->n_tokens, n, s->rs.max_seq);
    const Adapter* a = s->has_adapter ? &s->adapter : NULL;
    if (forward(&s->model, a, &s->run, &s->rs, ids, n, s->n_tokens, s->logits, 0, &s->trace, err)) return -1;
    memcpy(s->tokens + s->n_tokens, ids, n * sizeof(int));
    s->n_tokens += n;
    s->trace.n = s->n_tokens;
    return 0;
}

int session_recompute(Session* s, Err* err) {
    int n = s->n_tokens;
    s->n_tokens = 0;
    trace_reset(&s->trace);
    if (n == 0) return 0;
    int* ids = xmalloc(n * sizeof(int));
    memcpy(ids, s->tokens, n * sizeof(int));
    int rc = session_feed(s, ids, n, err);
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
