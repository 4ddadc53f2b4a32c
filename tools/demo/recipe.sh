#!/bin/sh
# recipe.sh [STAGE]: `make demo`: re-creates the shipped demo (issues 6, 15) from scratch. Times measured
# on the idle 2-core machine (2 threads; a full run from a fresh clone took 29 min 40 s):
#   corpus     tools/demo/corpus.sh: ~7 MB of English from Debian packages     ~15 s (+ apt)
#   tokenizer  slimscope tokenizer-train: byte-level BPE, vocabulary 4096       ~1 s
#   pretrain   slimscope pretrain: tools/demo/model.json (Llama, 5.40M params)  ~18 min (1032 steps
#              of 16 x 256 tokens at ~3,850 tokens/s; DEMO_PRETRAIN_MINUTES caps it)
#   data       slimscope demo-data: add / date / reverse / max, train + test    ~1 s
#              (+ tools/demo/general_snippets.py: the general text of the training curves)
#   adapters   slimscope train: lora, moelora, slim on the task mixture, for     ~3-5 min each
#              each seed of config.sh (3): 9 runs (DEMO_ADAPTER_STEPS = 1000 steps of 32 examples,
#              ~1.6 epochs of the mixture; general perplexity every 100 steps)
#   eval       tools/demo/eval.sh: models/demo/RESULTS.md                        ~10-15 min
# Pretraining takes 18 minutes of the hour; the adapters and the evaluation the rest (from the
# `data` stage: about 45 minutes on 2 cores). The defaults are the settings the shipped models were
# made with. Starting at STAGE (default corpus) reuses what the earlier stages left in $WORK and $OUT.
#
# Trainable-parameter budgets (MLP gate/up/down of all 6 blocks; C = 256, F = 688; a rank-r
# LoRA on the three projections holds 3 r (C + F) = 2832 r parameters per block):
#   lora     r = 32, one expert                      6 * 2832*32                  = 543,744
#   moelora  8 experts r = 4, top 2, router 8 x C    6 * (8 * 2832*4 + 8*257)   = 556,080 (+2.3%)
#            + 8 bias
#   slim     1 LoRA r = 32 + 1 identity, top 2,      6 * (2832*32 + 2*257)      = 546,828 (+0.6%)
#            router 2 x C + 2 bias (+ 8 cluster centres and scales and 2 yield quantiles per block:
#            not trained by gradient)
# lora_alpha = 2 r everywhere (scale 2). MoE-LoRA runs 2 of its 8 rank-4 experts per token (8 active
# ranks); SLIM mixes its rank-32 expert with identity by the routing weights (issue 15: the 8 x
# rank-4 SLIM did not learn `reverse`).
#
# Environment: SLIMSCOPE (./slimscope), DEMO_WORK (build/demo: corpus, tokenizer, task data),
# DEMO_OUT (models/demo), DEMO_THREADS (2) (see tools/demo/config.sh), DEMO_PRETRAIN_STEPS (1032),
# DEMO_PRETRAIN_MINUTES (36: a cap; the best checkpoint so far is kept), DEMO_ADAPTER_STEPS (1000),
# DEMO_RUNS (the adapters stage: only these "method:seed" runs; default all), DEMO_SEEDS.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. tools/demo/config.sh
PRETRAIN_STEPS=${DEMO_PRETRAIN_STEPS:-1032}
PRETRAIN_MINUTES=${DEMO_PRETRAIN_MINUTES:-36}
ADAPTER_STEPS=${DEMO_ADAPTER_STEPS:-1000}
SLIM_GAMMA=1.0       # yield scale gamma of the calibrated yield
SLIM_TRAIN_MASK=0    # masking ratio p during SLIM training (SLIM.md section 5): 0.3 cost 25 points (ANALYSIS.md)
STAGE=${1:-corpus}
SEED=1337

case $STAGE in
corpus | tokenizer | pretrain | data | adapters | eval) ;;
*)
    echo "usage: tools/demo/recipe.sh [corpus|tokenizer|pretrain|data|adapters|eval]" >&2
    exit 2
    ;;
esac

# Fails with one line when a subcommand or one of its options is missing from this build.
need() {
    cmd=$1
    shift
    help=$("$SS" "$cmd" --help 2>&1) || {
        echo "recipe: '$SS $cmd' is not available in this build" >&2
        exit 1
    }
    for opt in "$@"; do
        printf '%s\n' "$help" | grep -q -e "--$opt\b" || {
            echo "recipe: '$SS $cmd' has no option --$opt (see $SS $cmd --help)" >&2
            exit 1
        }
    done
}

T0=$(date +%s)
stage_start() {
    S0=$(date +%s)
    echo "=== $1 ($(($S0 - T0)) s into the recipe)"
}
stage_end() {
    echo "=== $1 done in $(($(date +%s) - S0)) s"
}
# Runs the stages from $STAGE on: at() is true for the named stage and every later one.
ORDER="corpus tokenizer pretrain data adapters eval"
at() {
    for s in $ORDER; do
        [ "$s" = "$STAGE" ] && return 0
        [ "$s" = "$1" ] && return 1
    done
    return 1
}

[ -x "$SS" ] || {
    echo "recipe: $SS not found; run make first" >&2
    exit 1
}
mkdir -p "$WORK" "$OUT/logs"

# --- 1. general corpus --------------------------------------------------------------------------
if at corpus; then
    stage_start corpus
    sh tools/demo/corpus.sh "$WORK/corpus"
    stage_end corpus
fi

# --- 2. tokenizer -------------------------------------------------------------------------------
if at tokenizer; then
    stage_start tokenizer
    need tokenizer-train data vocab out
    rm -rf "$WORK/tokenizer"
    "$SS" tokenizer-train --data "$WORK/corpus/general_train.txt" --vocab 4096 --out "$WORK/tokenizer"
    stage_end tokenizer
fi

# --- 3. base model ------------------------------------------------------------------------------
# Early stopping watches 2% of the training documents; general_valid.txt stays unseen until the
# evaluation. Weights are written as bf16 (10.8 MB); the adapters are trained against exactly
# those weights.
if at pretrain; then
    stage_start pretrain
    need pretrain config tokenizer data val-frac out steps time-budget batch seq-len lr warmup \
        eval-every eval-batches patience seed threads dtype log
    rm -rf "$OUT/base"
    "$SS" pretrain --config tools/demo/model.json --tokenizer "$WORK/tokenizer" \
        --data "$WORK/corpus/general_train.txt" --val-frac 0.02 --out "$OUT/base" \
        --steps "$PRETRAIN_STEPS" --time-budget "$PRETRAIN_MINUTES" --batch 16 --seq-len 256 --lr 1e-3 --warmup 100 \
        --eval-every 100 --eval-batches 8 --patience 5 --seed "$SEED" --threads "$THREADS" \
        --dtype bf16 --log "$OUT/logs/pretrain.csv"
    stage_end pretrain
fi

# --- 4. downstream task data --------------------------------------------------------------------
if at data; then
    stage_start data
    need demo-data out seed train test
    rm -rf "$WORK/data"
    # shellcheck disable=SC2086
    "$SS" demo-data --out "$WORK/data" $DATA_ARGS
    # general-text snippets for the perplexity curves during training (not the evaluation's text)
    python3 tools/demo/general_snippets.py "$WORK/corpus/general_valid.txt" "$WORK/data/general_snippets.jsonl"
    stage_end data
fi

# --- 5. adapters --------------------------------------------------------------------------------
if at adapters; then
    need train model data method out r lora-alpha experts identity-experts top-k clusters \
        cluster-momentum yield-scale router-bias balance-lambda lr steps batch seq-len warmup seed threads log \
        val-data eval-every distance yield-calibration skip-special-tokens balance-lora-only train-mask-ratio
    COMMON="--model $OUT/base --data $WORK/data/train.jsonl --steps $ADAPTER_STEPS --batch 32 --seq-len 32"
    COMMON="$COMMON --lr 2e-3 --warmup 30 --threads $THREADS"
    # the curve of general perplexity over training: every 100 steps on the snippets
    COMMON="$COMMON --val-data $WORK/data/general_snippets.jsonl --eval-every 100"
    # LoRA and SLIM of every seed first (the targets compare those two; the first seed's adapters
    # are the shipped ones), then MoE-LoRA's; DEMO_RUNS="method:seed ..." trains only those
    RUNS=""
    for seed in $SEEDS; do RUNS="$RUNS lora:$seed slim:$seed"; done
    for seed in $SEEDS; do RUNS="$RUNS moelora:$seed"; done
    RUNS=${DEMO_RUNS:-$RUNS}
    [ -n "${DEMO_RUNS:-}" ] || rm -rf "${OUT:?}/seeds"
    for run in $RUNS; do
        method=${run%%:*} seed=${run#*:}
        stage_start "adapter $method, seed $seed"
        dir=$(adapter_dir "$method" "$seed")
        rm -rf "$dir"
        case $method in
        lora) ARGS="--r 32 --lora-alpha 64" ;;
        # a router bias and a small load-balance term (MixLoRA-style); BOS stays out of the load
        moelora)
            ARGS="--experts 8 --identity-experts 0 --top-k 2 --r 4 --lora-alpha 8 --router-bias --balance-lambda 0.01"
            ARGS="$ARGS --skip-special-tokens"
            ;;
        # one rank-32 LoRA expert and one identity expert, both kept: the router and the yield set
        # each token's identity share; RMS distance, calibrated yield, BOS out of the clusters; no
        # masking during training (SLIM_TRAIN_MASK; models/demo/ANALYSIS.md)
        slim)
            ARGS="--experts 1 --identity-experts 1 --top-k 2 --r 32 --lora-alpha 64 --clusters 8"
            ARGS="$ARGS --cluster-momentum 0.01 --yield-scale $SLIM_GAMMA --router-bias --balance-lambda 0.01"
            ARGS="$ARGS --skip-special-tokens --balance-lora-only --distance rms --yield-calibration quantile"
            ARGS="$ARGS --train-mask-ratio $SLIM_TRAIN_MASK"
            ;;
        esac
        # shellcheck disable=SC2086 # the option lists are meant to split into words
        "$SS" train $COMMON --seed "$seed" --method "$method" $ARGS --out "$dir" --log "$(log_file "$method" "$seed")"
        stage_end "adapter $method, seed $seed"
    done
fi

# --- 6. evaluation ------------------------------------------------------------------------------
if at eval; then
    stage_start eval
    SLIMSCOPE=$SS DEMO_WORK=$WORK DEMO_OUT=$OUT DEMO_THREADS=$THREADS sh tools/demo/eval.sh
    stage_end eval
fi

total=$(($(date +%s) - T0))
echo "recipe: done in $((total / 60)) min $((total % 60)) s"
if [ "$STAGE" = corpus ] && [ "$total" -gt 3600 ]; then
    echo "recipe: warning: over the 60-minute budget; lower DEMO_PRETRAIN_STEPS or DEMO_ADAPTER_STEPS" >&2
fi
