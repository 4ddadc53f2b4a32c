// cmd_pretrain.c: `slimscope pretrain`: train a Llama-family base model from scratch on plain text
// and write a complete Hugging Face model directory (config.json, model.safetensors, tokenizer
// files). Held-out loss is measured every --eval-every steps; the output directory always holds
// the best model so far, and training stops early when the held-out loss stops improving
// (--patience evaluations) or when --time-budget minutes are used up.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "train_cli.h"
#include "data.h"
#include "settings.h"
#include "train.h"

typedef struct {
    const char *config, *tokenizer, *data, *val_data, *out, *log, *resume, *doc_sep;
    int dtype;  // position in DTYPE_CHOICES
    int steps, batch, seq_len, accum, warmup, ckpt_every, eval_every, eval_batches, patience;
    float lr, min_lr_frac, weight_decay, beta2, grad_clip, init_std, val_frac, time_budget;
    uint64_t seed;
} PretrainArgs;

static int copy_file(const char* from, const char* to, Err* err) {
    size_t len;
    char* text = read_file_text(from, &len, err);
    if (!text) return -1;
    int rc = write_file_atomic(to, text, len, err);
    free(text);
    return rc;
}

// Writes the model (with the given parameters in place of the current ones) and the tokenizer files.
static int write_output(Model* m, const float* params, const PretrainArgs* A, DType dtype, Err* err) {
    float* keep = NULL;
    if (params && params != m->storage) {
        keep = xmalloc(m->n_params * sizeof(float));
        memcpy(keep, m->storage, m->n_params * sizeof(float));
        memcpy(m->storage, params, m->n_params * sizeof(float));
    }
    int rc = model_save(m, A->out, dtype, 1, err);
    if (keep) {
        memcpy(m->storage, keep, m->n_params * sizeof(float));
        free(keep);
    }
    if (rc) return -1;
    const char* files[] = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"};
    for (int i = 0; i < 3; i++) {
        char from[4200], to[4200];
        path_join(from, sizeof from, A->tokenizer, files[i]);
        path_join(to, sizeof to, A->out, files[i]);
        if (i > 0 && !file_exists(from)) continue;
        if (copy_file(from, to, err)) return -1;
    }
    return 0;
}

#define F(field) offsetof(PretrainArgs, field)
static const Option PRETRAIN_OPTIONS[] = {
    {"config", OPT_STR, F(config), "FILE", "config.json of the model to create (Llama/Mistral/Qwen2 fields)"},
    {"tokenizer", OPT_STR, F(tokenizer), "DIR", "directory with tokenizer.json (+ tokenizer_config.json)"},
    {"data", OPT_STR, F(data), "FILE", "training text; documents split at <|endoftext|> lines or blank lines"},
    {"val-data", OPT_STR, F(val_data), "FILE", "held-out text (default: --val-frac of the documents of --data)"},
    {"val-frac", OPT_FLOAT, F(val_frac), "X", "fraction of documents held out when there is no --val-data", 0.05,
     IN_RANGE_CO(0, 1)},
    {"doc-sep", OPT_STR, F(doc_sep), "TEXT", "document separator string (default: see --data)"},
    {"out", OPT_STR, F(out), "DIR", "model directory to write"},
    {"steps", OPT_INT, F(steps), "N", "optimiser steps; 0 = as many as --time-budget allows", 2000, AT_LEAST(0)},
    {"time-budget", OPT_FLOAT, F(time_budget), "MIN", "stop after this many minutes; 0 = no limit", 0},
    {"batch", OPT_INT, F(batch), "N", "sequences per micro-batch", 16, AT_LEAST(1)},
    {"seq-len", OPT_INT, F(seq_len), "N", "tokens per sequence", 256, AT_LEAST(2)},
    {"accum", OPT_INT, F(accum), "N", "micro-batches per step", 1, AT_LEAST(1)},
    {"lr", OPT_FLOAT, F(lr), "X", "peak learning rate", 1e-3},
    {"min-lr-frac", OPT_FLOAT, F(min_lr_frac), "X", "final lr as a fraction of the peak", 0.1},
    {"warmup", OPT_INT, F(warmup), "N", "warmup steps", 100},
    {"weight-decay", OPT_FLOAT, F(weight_decay), "X", "AdamW decay on matrices; none on norms, biases", 0.1},
    {"beta2", OPT_FLOAT, F(beta2), "X", "AdamW beta2", 0.95},
    {"grad-clip", OPT_FLOAT, F(grad_clip), "X", "clip the global gradient norm; 0 = off", 1.0},
    {"init-std", OPT_FLOAT, F(init_std), "X", "weight init std (o/down scaled by 1/sqrt(2L))", 0.02},
    {"seed", OPT_U64, F(seed), "S", "seed of the init, the split and the data order", 1337},
    {"eval-every", OPT_INT, F(eval_every), "N", "steps between held-out evaluations", 100},
    {"eval-batches", OPT_INT, F(eval_batches), "N", "held-out batches per evaluation", 8},
    {"patience", OPT_INT, F(patience), "N", "stop after N evaluations without improvement; 0 = never", 5},
    {"log", OPT_STR, F(log), "FILE", "CSV log: step,loss,lr,tokens_per_s,val_loss"},
    {"ckpt-every", OPT_INT, F(ckpt_every), "N", "write OUT/checkpoint/checkpoint.bin every N steps"},
    {"resume", OPT_STR, F(resume), "DIR", "continue the run whose checkpoint is in DIR"},
    {"dtype", OPT_CHOICE, F(dtype), DTYPE_CHOICES, "weights on disk", 0},
    {NULL},
};
#undef F

int cmd_pretrain(int argc, char** argv) {
    PretrainArgs A;
    memset(&A, 0, sizeof A);
    int done_status = train_options_begin("pretrain", PRETRAIN_OPTIONS, &A, argc, argv,
        "usage: slimscope pretrain --config model.json --tokenizer DIR --data TEXT --out DIR [options]\n"
        "Trains a new base model from scratch; OUT gets config.json, model.safetensors and the tokenizer\n"
        "files, rewritten whenever the held-out loss improves.\n");
    if (done_status >= 0) return done_status;
    Err err;
    if (!A.config || !A.tokenizer || !A.data || !A.out) {
        fprintf(stderr, "error: pretrain: --config, --tokenizer, --data and --out are required (see slimscope pretrain --help)\n");
        return 2;
    }
    DType dtype = DTYPE_OF_CHOICE[A.dtype];
    if (A.steps == 0 && A.time_budget <= 0) {
        fprintf(stderr, "error: pretrain: --steps 0 needs a --time-budget\n");
        return 2;
    }
    int threads = ops_get_threads();
    remove_stale_tmp_files(A.out, A.resume);

    int rc = 1;
    ModelConfig cfg;
    Tokenizer tok;
    memset(&tok, 0, sizeof tok);
    TextData data;
    memset(&data, 0, sizeof data);
    Model m;
    memset(&m, 0, sizeof m);
    Trainer t;
    memset(&t, 0, sizeof t);
    Batch* micro = NULL;
    Batch* vb = NULL;
    int nvb = 0;
    TrainLog lg;
    memset(&lg, 0, sizeof lg);
    float* best = NULL;
    char *saved = NULL, ckpt_path[4300], recipe[2048];
    char last_ckpt[4300] = "", last_ckpt_run[4200] = "";  // the newest checkpoint on disk, and its --out
    int last_ckpt_step = -1;

    if (config_load(&cfg, A.config, &err) || tokenizer_load(&tok, A.tokenizer, &err)) goto done;
    int tv = tokenizer_vocab_size(&tok);
    if (cfg.vocab_size < tv) {
        err_set(&err, "%s: vocab_size %d is smaller than the tokenizer's %d tokens", A.config, cfg.vocab_size, tv);
        goto done;
    }
    if (cfg.max_seq_len < A.seq_len) {
        err_set(&err, "%s: max_position_embeddings %d is below --seq-len %d", A.config, cfg.max_seq_len, A.seq_len);
        goto done;
    }
    if (cfg.bos_id < 0) cfg.bos_id = tok.bos_id;
    if (cfg.eos_id < 0) cfg.eos_id = tok.eos_id;
    double t_load = now_seconds();
    int eos = tok.eos_id >= 0 ? tok.eos_id : cfg.eos_id;
    if (text_data_load(&data, A.data, &tok, A.doc_sep, A.val_data ? 0.0f : A.val_frac, A.seed, eos, &err)) goto done;
    if (A.val_data && text_data_load_val(&data, A.val_data, &tok, A.doc_sep, eos, &err)) goto done;
    if (data.n_train < (size_t)A.seq_len + 1) {
        err_set(&err, "%s: only %zu training tokens, fewer than --seq-len + 1", A.data, data.n_train);
        goto done;
    }
    fprintf(stderr, "data: %d documents, %zu training tokens, %zu held-out tokens (%d documents) in %.1f s\n", data.n_docs,
            data.n_train, data.n_val, data.n_val_docs, now_seconds() - t_load);

    model_init_random(&m, &cfg, A.init_std, A.seed);
    trainer_init_model_weights(&m, A.init_std, A.seed);
    TrainConfig tc;
    train_config_default(&tc, TRAIN_PRETRAIN);
    tc.batch = A.batch, tc.seq_len = A.seq_len, tc.accum = A.accum, tc.steps = A.steps ? A.steps : 1 << 30;
    tc.warmup = A.warmup, tc.lr = A.lr, tc.min_lr_frac = A.min_lr_frac, tc.weight_decay = A.weight_decay;
    tc.beta2 = A.beta2, tc.grad_clip = A.grad_clip, tc.seed = A.seed, tc.init_std = A.init_std;
    if (trainer_init(&t, &m, NULL, &tc, &err)) goto done;
    nvb = text_data_val_batches(&data, A.batch, A.seq_len, A.eval_batches, &vb);

    Rng rng;
    rng_seed(&rng, A.seed ^ 0xda7aull);
    double best_val = INFINITY, elapsed_before = 0;
    int bad_evals = 0;
    snprintf(recipe, sizeof recipe,
             "arg.config-params=%zu\narg.batch=%d\narg.seq-len=%d\narg.accum=%d\narg.lr=%g\narg.min-lr-frac=%g\n"
             "arg.warmup=%d\narg.weight-decay=%g\narg.beta2=%g\narg.grad-clip=%g\narg.init-std=%g\narg.seed=%llu\n"
             "arg.train-tokens=%zu\narg.val-tokens=%zu\narg.eval-every=%d\narg.eval-batches=%d\n",
             m.n_params, A.batch, A.seq_len, A.accum, A.lr, A.min_lr_frac, A.warmup, A.weight_decay, A.beta2, A.grad_clip,
             A.init_std, (unsigned long long)A.seed, data.n_train, data.n_val, A.eval_every, A.eval_batches);
    if (A.resume) {
        if (checkpoint_locate(A.resume, ckpt_path, sizeof ckpt_path, &err) ||
            trainer_load_checkpoint(&t, ckpt_path, &saved, &err) || recipe_check(saved, recipe, &err))
            goto done;
        char buf[128];
        if (kv_get(saved, "data_rng", buf, sizeof buf)) rng.s = strtoull(buf, NULL, 10);
        if (kv_get(saved, "best_val", buf, sizeof buf)) best_val = strtod(buf, NULL);
        if (kv_get(saved, "bad_evals", buf, sizeof buf)) bad_evals = atoi(buf);
        if (kv_get(saved, "elapsed", buf, sizeof buf)) elapsed_before = strtod(buf, NULL);
        if (kv_get(saved, "steps", buf, sizeof buf)) tc.steps = t.tc.steps = atoi(buf);
        if (A.steps && tc.steps != A.steps) {
            err_set(&err, "--resume: the checkpoint was made with --steps %d, this run has %d", tc.steps, A.steps);
            goto done;
        }
        if (kv_get(saved, "threads", buf, sizeof buf) && atoi(buf) != threads)
            fprintf(stderr, "warning: the checkpoint ran on %s threads, this run on %d: the loss curve may differ in the "
                            "last digits\n", buf, threads);
        fprintf(stderr, "resuming %s at step %d\n", ckpt_path, (int)t.step);
        snprintf(last_ckpt_run, sizeof last_ckpt_run, "%s", A.resume);
        snprintf(last_ckpt, sizeof last_ckpt, "%s", ckpt_path);
        last_ckpt_step = (int)t.step;
    }
    snprintf(ckpt_path, sizeof ckpt_path, "%s/checkpoint/checkpoint.bin", A.out);
    if (nvb > 0) best = xmalloc(m.n_params * sizeof(float));
    fprintf(stderr, "pretrain: %s %d layers, hidden %d, mlp %d, heads %d/%d, vocab %d: %.2fM parameters; %d x %d tokens "
                    "per step, %d threads\n",
            arch_name(cfg.arch), cfg.n_layers, cfg.dim, cfg.hidden_dim, cfg.n_heads, cfg.n_kv_heads, cfg.vocab_size,
            m.n_params / 1e6, A.batch * A.accum, A.seq_len, threads);

    micro = xcalloc(A.accum, sizeof(Batch));
    for (int i = 0; i < A.accum; i++) {
        micro[i].B = A.batch, micro[i].T = A.seq_len;
        micro[i].tokens = xmalloc((size_t)A.batch * A.seq_len * sizeof(int));
        micro[i].targets = xmalloc((size_t)A.batch * A.seq_len * sizeof(int));
    }
    if (trainlog_open(&lg, A.log, A.resume ? (int)t.step : -1, tc.steps != 1 << 30 ? tc.steps : 0, &err)) goto done;
    train_catch_sigint();
    double t_start = now_seconds();
    double budget_s = A.time_budget > 0 ? A.time_budget * 60.0 : INFINITY;
    long tokens = 0;
    StepStats st;
    memset(&st, 0, sizeof st);
    int stop_reason = 0;  // 1 steps done, 2 early stop, 3 time budget, 4 interrupted
    int first_step = (int)t.step;
    while (!stop_reason) {
        if ((int)t.step >= tc.steps) {
            stop_reason = 1;
            break;
        }
        for (int i = 0; i < A.accum; i++) text_data_sample(&data, &micro[i], &rng);
        trainer_step(&t, micro, A.accum, &st);
        tokens += (long)A.accum * A.batch * A.seq_len;
        if (!isfinite(st.loss)) {
            err_set(&err, "pretrain: the loss became %g at step %d; lower --lr", st.loss, (int)t.step);
            goto done;
        }
        double elapsed = elapsed_before + now_seconds() - t_start;
        // --steps 0: after a few steps, fix the step count that fits the budget (kept on resume)
        if (!A.steps && (int)t.step == first_step + 5 && tc.steps == 1 << 30) {
            double per = (now_seconds() - t_start) / 5;
            double eval_share = A.eval_every > 0 && nvb ? (double)nvb / (3.0 * A.eval_every * A.accum) : 0;
            int total = (int)((budget_s * 0.97 - elapsed_before) / (per * (1 + eval_share))) + first_step;
            if (total < (int)t.step + 1) total = (int)t.step + 1;
            tc.steps = t.tc.steps = total;
            lg.total_steps = total;
            fprintf(stderr, "%.3f s per step: %d steps fit the %.1f-minute budget\n", per, total, A.time_budget);
        }
        float vl = -1;
        int last = (int)t.step >= tc.steps || elapsed >= budget_s || g_train_stop;
        if (nvb && ((A.eval_every > 0 && (int)t.step % A.eval_every == 0) || last)) {
            vl = (float)trainer_eval(&t, vb, nvb, NULL);
            if (vl < best_val - 1e-4) {
                best_val = vl;
                bad_evals = 0;
                memcpy(best, t.params, m.n_params * sizeof(float));
                if (write_output(&m, best, &A, dtype, &err)) {
                    final_write_failed(&err, "model", last_ckpt_run, last_ckpt, last_ckpt_step);
                    goto done;
                }
            } else if (++bad_evals >= A.patience && A.patience > 0) {
                stop_reason = 2;
            }
        }
        trainlog_step(&lg, (int)t.step, &st, tokens / (now_seconds() - t_start), vl);
        if (!stop_reason && elapsed >= budget_s) stop_reason = 3;
        if (!stop_reason && g_train_stop) stop_reason = 4;
        int want_ckpt = stop_reason == 4 || (A.ckpt_every > 0 && (int)t.step % A.ckpt_every == 0 && (int)t.step < tc.steps);
        if (want_ckpt) {
            char extra[4096], dir[4200];
            snprintf(extra, sizeof extra, "%sdata_rng=%llu\nbest_val=%.9g\nbad_evals=%d\nelapsed=%.3f\nsteps=%d\nthreads=%d\n",
                     recipe, (unsigned long long)rng.s, best_val, bad_evals, elapsed_before + now_seconds() - t_start,
                     tc.steps, threads);
            snprintf(dir, sizeof dir, "%s/checkpoint", A.out);
            if (mkdir_p(dir, &err) || trainer_save_checkpoint(&t, ckpt_path, extra, &err)) goto done;
            snprintf(last_ckpt_run, sizeof last_ckpt_run, "%s", A.out);
            snprintf(last_ckpt, sizeof last_ckpt, "%s", ckpt_path);
            last_ckpt_step = (int)t.step;
        }
    }
    if (stop_reason == 4) {
        fprintf(stderr, "\ninterrupted at step %d: checkpoint %s (continue with --resume %s)\n", (int)t.step, ckpt_path, A.out);
        rc = 130;
        goto done;
    }
    if ((!nvb || !isfinite(best_val)) && write_output(&m, NULL, &A, dtype, &err)) {  // no evaluation ran
        final_write_failed(&err, "model", last_ckpt_run, last_ckpt, last_ckpt_step);
        goto done;
    }
    const char* why[] = {"", "all steps done", "held-out loss stopped improving", "time budget used"};
    if (nvb)
        fprintf(stderr, "wrote %s (%s at step %d): best held-out loss %.4f (perplexity %.2f), last training loss %.4f, "
                        "%.1f min\n", A.out, why[stop_reason], (int)t.step, best_val, exp(best_val), st.loss,
                (elapsed_before + now_seconds() - t_start) / 60);
    else
        fprintf(stderr, "wrote %s (%s at step %d): training loss %.4f, %.1f min (no held-out text)\n", A.out,
                why[stop_reason], (int)t.step, st.loss, (elapsed_before + now_seconds() - t_start) / 60);
    rc = 0;
done:
    if (rc == 1) fprintf(stderr, "error: %s\n", err.msg);
    trainlog_close(&lg);
    if (micro) batches_free(micro, A.accum);
    if (vb) batches_free(vb, nvb);
    free(best);
    free(saved);
    trainer_free(&t);
    model_free(&m);
    text_data_free(&data);
    tokenizer_free(&tok);
    return rc;
}
