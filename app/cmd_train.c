// cmd_train.c: `slimscope train`: fine-tune a SLIM, plain LoRA or MoE-LoRA adapter on prompt /
// response JSONL (loss on the response), base model frozen; writes the adapter directory of
// shared/SLIM.md section 6.
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "train_cli.h"
#include "data.h"
#include "settings.h"
#include "train.h"

static int parse_targets(const char* s, unsigned* mask, Err* err) {
    *mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char* tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        static const char* SHORT[PROJ_COUNT] = {"q", "k", "v", "o", "gate", "up", "down"};
        int p = proj_from_name(tok);
        for (int i = 0; i < PROJ_COUNT && p < 0; i++)
            if (!strcmp(tok, SHORT[i])) p = i;
        if (p < 0) return err_set(err, "--targets: unknown projection '%s' (use q,k,v,o,gate,up,down)", tok);
        *mask |= 1u << p;
    }
    if (!*mask) return err_set(err, "--targets: empty list");
    return 0;
}

typedef struct {
    const char *model, *data, *out, *log, *resume, *targets, *val_data, *layers;
    int method, dtype;  // positions in the choices of --method and --dtype
    int distance, yield_cal;  // positions in the choices of --distance and --yield-calibration
    int r, experts, id_experts, top_k, clusters, router_bias, skip_special, balance_lora_only;
    float lora_alpha, cluster_momentum, yield_scale, l1, balance, mask_ratio;
    float lr, weight_decay, grad_clip, beta2, min_lr_frac;
    int steps, batch, seq_len, warmup, accum, ckpt_every, skip_bad, eval_every;
    uint64_t seed;
} TrainArgs;

#define F(field) offsetof(TrainArgs, field)
static const TrainMethod METHOD_OF_CHOICE[] = {TRAIN_SLIM, TRAIN_LORA, TRAIN_MOELORA};
static const Option TRAIN_OPTIONS[] = {
    {"model", OPT_STR, F(model), "DIR", "base model directory (frozen)"},
    {"data", OPT_STR, F(data), "FILE", "training JSONL with \"prompt\" and \"response\" fields"},
    {"method", OPT_CHOICE, F(method), "slim|lora|moelora", "adapter to train", 0},
    {"out", OPT_STR, F(out), "DIR", "adapter directory to write"},
    {"r", OPT_INT, F(r), "N", "LoRA rank per expert", 16, AT_LEAST(1)},
    {"lora-alpha", OPT_FLOAT, F(lora_alpha), "X", "LoRA alpha; scale = alpha / r", 32},
    {"experts", OPT_INT, F(experts), "N", "LoRA experts (slim, moelora)", 8, AT_LEAST(1)},
    {"identity-experts", OPT_INT, F(id_experts), "N", "identity experts (slim)", 2, AT_LEAST(0)},
    {"top-k", OPT_INT, F(top_k), "N", "experts kept per token", 2, AT_LEAST(1)},
    {"clusters", OPT_INT, F(clusters), "N", "sliding clusters per block", 8, AT_LEAST(1)},
    {"cluster-momentum", OPT_FLOAT, F(cluster_momentum), "X", "sliding-cluster momentum m", 0.01},
    {"yield-scale", OPT_FLOAT, F(yield_scale), "X", "gamma of the weight yielding (slim)", 1.0},
    {"router-bias", OPT_FLAG, F(router_bias), NULL, "give the router a bias"},
    {"distance", OPT_CHOICE, F(distance), "max|rms", "cluster distance d: max over channels (paper) or RMS", 0},
    {"yield-calibration", OPT_CHOICE, F(yield_cal), "none|quantile", "yield gamma*d (paper) or gamma*(d-q50)/(q90-q50)", 0},
    {"skip-special-tokens", OPT_FLAG, F(skip_special), NULL, "keep BOS and other special tokens out of clusters and balance"},
    {"balance-lora-only", OPT_FLAG, F(balance_lora_only), NULL, "the balance term counts LoRA experts only"},
    {"l1-lambda", OPT_FLOAT, F(l1), "X", "weight of the L1 term on A/B", 0},
    {"balance-lambda", OPT_FLOAT, F(balance), "X", "weight of the load-balance term", 0},
    {"train-mask-ratio", OPT_FLOAT, F(mask_ratio), "P", "masking ratio p during training, per step", 0, IN_RANGE_CO(0, 1)},
    {"targets", OPT_STR, F(targets), "LIST", "projections to adapt (lora also q,k,v,o)", .def_str = "gate,up,down"},
    {"layers", OPT_STR, F(layers), "0-3,5", "blocks carrying the adapter (default all)"},
    {"lr", OPT_FLOAT, F(lr), "X", "peak learning rate", 1e-3},
    {"min-lr-frac", OPT_FLOAT, F(min_lr_frac), "X", "final lr as a fraction of the peak", 0.1},
    {"steps", OPT_INT, F(steps), "N", "optimiser steps", 500, AT_LEAST(1)},
    {"batch", OPT_INT, F(batch), "N", "examples per micro-batch", 16, AT_LEAST(1)},
    // 0: 128, or the model's positions when it has fewer
    {"seq-len", OPT_INT, F(seq_len), "N", "maximum tokens per example", 0, "128, at most the model's positions", AT_LEAST(2)},
    {"warmup", OPT_INT, F(warmup), "N", "warmup steps", 20},
    {"weight-decay", OPT_FLOAT, F(weight_decay), "X", "AdamW decay on A, B and the router weight", 0},
    {"beta2", OPT_FLOAT, F(beta2), "X", "AdamW beta2", 0.999},
    {"grad-clip", OPT_FLOAT, F(grad_clip), "X", "clip the global gradient norm; 0 = off", 1.0},
    {"accum", OPT_INT, F(accum), "N", "micro-batches per step", 1, AT_LEAST(1)},
    {"seed", OPT_U64, F(seed), "S", "seed of the init, the data order and the masks", 1337},
    {"log", OPT_STR, F(log), "FILE", "CSV log: step,loss,lr,tokens_per_s,val_loss"},
    {"val-data", OPT_STR, F(val_data), "FILE", "held-out JSONL for a validation loss"},
    {"eval-every", OPT_INT, F(eval_every), "N", "steps between validation losses", 100},
    {"ckpt-every", OPT_INT, F(ckpt_every), "N", "write OUT/checkpoint/checkpoint.bin every N steps"},
    {"resume", OPT_STR, F(resume), "DIR", "continue the run whose checkpoint is in DIR"},
    {"skip-bad-lines", OPT_FLAG, F(skip_bad), NULL, "skip (and count) malformed JSONL lines"},
    {"dtype", OPT_CHOICE, F(dtype), DTYPE_CHOICES, "adapter dtype on disk", 0},
    {NULL},
};
#undef F

static double sft_eval(Trainer* t, const SftData* d, int B, int T, int max_batches) {
    if (!d || d->n == 0) return -1;
    SftSampler s;
    sft_sampler_init(&s, d, 0);
    for (int i = 0; i < s.n; i++) s.perm[i] = i;  // fixed order: the first examples
    int nb = (d->n + B - 1) / B;
    if (nb > max_batches) nb = max_batches;
    Batch b = {B, T, xmalloc((size_t)B * T * sizeof(int)), xmalloc((size_t)B * T * sizeof(int)), xmalloc(B * sizeof(int))};
    double sum = 0;
    int cnt = 0;
    for (int k = 0; k < nb; k++) {
        int rows = d->n - k * B < B ? d->n - k * B : B;
        sft_next_batch(&s, d, &b, rows, T);
        int nv;
        sum += trainer_forward(t, &b, 0, &nv);
        cnt += nv;
    }
    free(b.tokens), free(b.targets), free(b.lens);
    sft_sampler_free(&s);
    return cnt ? sum / cnt : -1;
}

int cmd_train(int argc, char** argv) {
    TrainArgs A;
    memset(&A, 0, sizeof A);
    int done_status = train_options_begin("train", TRAIN_OPTIONS, &A, argc, argv,
        "usage: slimscope train --model DIR --data train.jsonl --method slim|lora|moelora --out DIR [options]\n"
        "Fine-tunes an adapter (base model frozen) with loss on the response tokens; writes\n"
        "OUT/adapter_config.json and OUT/adapter_model.safetensors (shared/SLIM.md section 6).\n");
    if (done_status >= 0) return done_status;
    Err err;
    if (!A.model || !A.data || !A.out) {
        fprintf(stderr, "error: train: --model, --data and --out are required (see slimscope train --help)\n");
        return 2;
    }
    TrainMethod method = METHOD_OF_CHOICE[A.method];
    const char* method_name = train_method_name(method);
    DType dtype = DTYPE_OF_CHOICE[A.dtype];
    unsigned targets;
    if (parse_targets(A.targets, &targets, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 2;
    }
    if (method != TRAIN_LORA && (targets & ((1u << PROJ_GATE) - 1))) {
        fprintf(stderr, "error: train: --method %s routes the MLP; --targets must be among gate, up, down\n", method_name);
        return 2;
    }
    int threads = ops_get_threads();
    remove_stale_tmp_files(A.out, A.resume);

    int rc = 1;
    Model m;
    Tokenizer tok;
    memset(&m, 0, sizeof m);
    memset(&tok, 0, sizeof tok);
    SftData data, val;
    memset(&data, 0, sizeof data);
    memset(&val, 0, sizeof val);
    Adapter a;
    memset(&a, 0, sizeof a);
    Trainer t;
    memset(&t, 0, sizeof t);
    SftSampler smp;
    memset(&smp, 0, sizeof smp);
    Batch* micro = NULL;
    TrainLog lg;
    memset(&lg, 0, sizeof lg);
    unsigned char layer_on[1024];
    int layer_list[1024], n_layers_on = 0;
    char ckpt_path[4300], recipe[4096], *saved = NULL;
    char last_ckpt[4300] = "", last_ckpt_run[4200] = "";  // the newest checkpoint on disk, and its --out
    int last_ckpt_step = -1;

    if (model_load_as(&m, A.model, WEIGHTS_F32, &err) || tokenizer_load(&tok, A.model, &err)) goto done;
    if (m.cfg.n_layers > 1024) {
        err_set(&err, "%s: too many blocks", A.model);
        goto done;
    }
    if (!A.seq_len) A.seq_len = m.cfg.max_seq_len < 128 ? m.cfg.max_seq_len : 128;  // the default
    if (A.seq_len > m.cfg.max_seq_len) {
        err_set(&err, "train: --seq-len %d exceeds the model's max_position_embeddings (%d)", A.seq_len, m.cfg.max_seq_len);
        goto done;
    }
    int eos = tok.eos_id >= 0 ? tok.eos_id : m.cfg.eos_id;
    if (sft_data_load(&data, A.data, &tok, eos, A.skip_bad, &err)) goto done;
    if (A.val_data && sft_data_load(&val, A.val_data, &tok, eos, A.skip_bad, &err)) goto done;
    for (size_t i = 0; i < data.n_tokens; i++)
        if (data.tokens[i] >= m.cfg.vocab_size) {
            err_set(&err, "%s: token id %d from the tokenizer is outside the model's vocabulary (%d)", A.data, data.tokens[i],
                    m.cfg.vocab_size);
            goto done;
        }

    AdapterSpec spec;
    adapter_spec_default(&spec);
    spec.type = method == TRAIN_LORA ? ADAPTER_LORA : ADAPTER_SLIM;
    spec.r = A.r;
    spec.lora_alpha = A.lora_alpha;
    spec.n_id = method == TRAIN_SLIM ? A.id_experts : 0;
    spec.n_lora = method == TRAIN_LORA ? 1 : A.experts;
    spec.top_k = A.top_k;
    spec.n_clusters = A.clusters;
    spec.yield_scale = method == TRAIN_SLIM ? A.yield_scale : 0.0f;
    spec.cluster_momentum = A.cluster_momentum;
    spec.router_bias = A.router_bias;
    spec.distance = (SlimDistance)A.distance;
    spec.yield_calibration = method == TRAIN_SLIM ? (YieldCalibration)A.yield_cal : YCAL_NONE;
    spec.target_mask = targets;
    if (method != TRAIN_LORA && spec.top_k > spec.n_id + spec.n_lora) {
        err_set(&err, "train: --top-k %d exceeds the %d experts", spec.top_k, spec.n_id + spec.n_lora);
        goto done;
    }
    if (A.layers) {
        if (parse_layer_set(A.layers, layer_on, m.cfg.n_layers, &err)) goto done;
        for (int l = 0; l < m.cfg.n_layers; l++)
            if (layer_on[l]) layer_list[n_layers_on++] = l;
        spec.layers = layer_list;
        spec.n_layer_list = n_layers_on;
    }
    adapter_alloc(&a, &m, &spec);
    snprintf(a.base_model, sizeof a.base_model, "%s", A.model);
    a.mask_seed = A.seed;
    trainer_init_adapter(&a, A.seed);

    TrainConfig tc;
    train_config_default(&tc, (TrainMethod)method);
    tc.batch = A.batch, tc.seq_len = A.seq_len, tc.accum = A.accum, tc.steps = A.steps, tc.warmup = A.warmup;
    tc.lr = A.lr, tc.min_lr_frac = A.min_lr_frac, tc.weight_decay = A.weight_decay, tc.beta2 = A.beta2;
    tc.grad_clip = A.grad_clip, tc.seed = A.seed;
    tc.l1_lambda = A.l1, tc.balance_lambda = A.balance, tc.train_mask_ratio = A.mask_ratio;
    tc.skip_special = A.skip_special, tc.balance_lora_only = A.balance_lora_only;
    if (trainer_init(&t, &m, &a, &tc, &err)) goto done;
    for (int id = 0; id < m.cfg.vocab_size && id < tok.vocab_size; id++)
        if (id == tok.bos_id || id == eos || tokenizer_is_special(&tok, id)) trainer_set_special(&t, &id, 1);
    sft_sampler_init(&smp, &data, A.seed);

    snprintf(recipe, sizeof recipe,
             "arg.method=%s\narg.r=%d\narg.lora-alpha=%g\narg.experts=%d\narg.identity-experts=%d\narg.top-k=%d\n"
             "arg.clusters=%d\narg.cluster-momentum=%g\narg.yield-scale=%g\narg.l1-lambda=%g\narg.balance-lambda=%g\n"
             "arg.train-mask-ratio=%g\narg.targets=%s\narg.layers=%s\narg.lr=%g\narg.steps=%d\narg.batch=%d\n"
             "arg.seq-len=%d\narg.warmup=%d\narg.weight-decay=%g\narg.grad-clip=%g\narg.accum=%d\narg.seed=%llu\n"
             "arg.data-examples=%d\narg.data-tokens=%zu\narg.distance=%s\narg.yield-calibration=%s\n"
             "arg.skip-special-tokens=%d\narg.balance-lora-only=%d\n",
             method_name, A.r, A.lora_alpha, A.experts, A.id_experts, A.top_k, A.clusters, A.cluster_momentum, A.yield_scale,
             A.l1, A.balance, A.mask_ratio, A.targets, A.layers ? A.layers : "all", A.lr, A.steps, A.batch, A.seq_len,
             A.warmup, A.weight_decay, A.grad_clip, A.accum, (unsigned long long)A.seed, data.n, data.n_tokens,
             slim_distance_name(spec.distance), yield_calibration_name(spec.yield_calibration), A.skip_special,
             A.balance_lora_only);
    if (A.resume) {
        if (checkpoint_locate(A.resume, ckpt_path, sizeof ckpt_path, &err) ||
            trainer_load_checkpoint(&t, ckpt_path, &saved, &err) || recipe_check(saved, recipe, &err))
            goto done;
        char buf[64];
        int ep = atoi(kv_get(saved, "sampler.epoch", buf, sizeof buf) ? buf : "0");
        int pos = atoi(kv_get(saved, "sampler.pos", buf, sizeof buf) ? buf : "0");
        sft_sampler_seek(&smp, ep, pos);
        if (kv_get(saved, "threads", buf, sizeof buf) && atoi(buf) != threads)
            fprintf(stderr, "warning: the checkpoint ran on %s threads, this run on %d: the loss curve may differ in the "
                            "last digits\n", buf, threads);
        fprintf(stderr, "resuming %s at step %d of %d\n", ckpt_path, (int)t.step, A.steps);
        snprintf(last_ckpt_run, sizeof last_ckpt_run, "%s", A.resume);
        snprintf(last_ckpt, sizeof last_ckpt, "%s", ckpt_path);
        last_ckpt_step = (int)t.step;
    }
    snprintf(ckpt_path, sizeof ckpt_path, "%s/checkpoint/checkpoint.bin", A.out);

    size_t trainable = 0;
    for (int g = 0; g < t.n_groups; g++) trainable += t.groups[g].n;
    fprintf(stderr, "train %s: %d examples (%zu tokens%s), %zu trainable parameters (adapter %zu floats), %d threads\n",
            method_name, data.n, data.n_tokens, data.n_bad ? ", bad lines skipped" : "", trainable, a.n_params, threads);

    micro = xcalloc(A.accum, sizeof(Batch));
    for (int i = 0; i < A.accum; i++) {
        micro[i].tokens = xmalloc((size_t)A.batch * A.seq_len * sizeof(int));
        micro[i].targets = xmalloc((size_t)A.batch * A.seq_len * sizeof(int));
        micro[i].lens = xmalloc(A.batch * sizeof(int));
    }
    if (trainlog_open(&lg, A.log, A.resume ? (int)t.step : -1, A.steps, &err)) goto done;
    train_catch_sigint();
    double t_start = now_seconds();
    long tokens = 0;
    int truncated = 0;
    StepStats st;
    memset(&st, 0, sizeof st);
    while ((int)t.step < A.steps && !g_train_stop) {
        for (int i = 0; i < A.accum; i++) {
            truncated += sft_next_batch(&smp, &data, &micro[i], A.batch, A.seq_len);
            tokens += (long)micro[i].B * micro[i].T;
        }
        trainer_step(&t, micro, A.accum, &st);
        if (!isfinite(st.loss)) {
            err_set(&err, "train: the loss became %g at step %d; lower --lr", st.loss, (int)t.step);
            goto done;
        }
        float vl = -1;
        if (val.n && A.eval_every > 0 && ((int)t.step % A.eval_every == 0 || (int)t.step == A.steps))
            vl = (float)sft_eval(&t, &val, A.batch, A.seq_len, 16);
        trainlog_step(&lg, (int)t.step, &st, tokens / (now_seconds() - t_start), vl);
        if (A.ckpt_every > 0 && (int)t.step % A.ckpt_every == 0 && (int)t.step < A.steps && !g_train_stop) {
            char extra[8192];
            snprintf(extra, sizeof extra, "%ssampler.epoch=%d\nsampler.pos=%d\nthreads=%d\n", recipe, smp.epoch, smp.pos, threads);
            char dir[4200];
            snprintf(dir, sizeof dir, "%s/checkpoint", A.out);
            if (mkdir_p(dir, &err) || trainer_save_checkpoint(&t, ckpt_path, extra, &err)) goto done;
            snprintf(last_ckpt_run, sizeof last_ckpt_run, "%s", A.out);
            snprintf(last_ckpt, sizeof last_ckpt, "%s", ckpt_path);
            last_ckpt_step = (int)t.step;
        }
    }
    if (truncated) fprintf(stderr, "note: %d examples were longer than --seq-len %d and lost their first tokens\n", truncated, A.seq_len);
    if (g_train_stop) {
        char extra[8192];
        snprintf(extra, sizeof extra, "%ssampler.epoch=%d\nsampler.pos=%d\nthreads=%d\n", recipe, smp.epoch, smp.pos, threads);
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/checkpoint", A.out);
        if (mkdir_p(dir, &err) || trainer_save_checkpoint(&t, ckpt_path, extra, &err)) goto done;
        fprintf(stderr, "\ninterrupted at step %d: checkpoint %s (continue with --resume %s)\n", (int)t.step, ckpt_path, A.out);
        rc = 130;
        goto done;
    }
    a.mask_ratio = 0;  // the inference default; training masks are not part of the adapter
    if (adapter_save(&a, A.out, dtype, &err)) {
        final_write_failed(&err, "adapter", last_ckpt_run, last_ckpt, last_ckpt_step);
        goto done;
    }
    fprintf(stderr, "wrote %s: final loss %.4f (cross-entropy %.4f) after %d steps in %.1f s\n", A.out, st.loss, st.ce,
            (int)t.step, now_seconds() - t_start);
    rc = 0;
done:
    if (rc == 1) fprintf(stderr, "error: %s\n", err.msg);
    trainlog_close(&lg);
    if (micro) batches_free(micro, A.accum);
    free(saved);
    sft_sampler_free(&smp);
    trainer_free(&t);
    adapter_free(&a);
    sft_data_free(&data);
    sft_data_free(&val);
    tokenizer_free(&tok);
    model_free(&m);
    return rc;
}
