# config.sh: settings shared by tools/demo/recipe.sh and tools/demo/eval.sh (sourced, not run).
# Environment overrides: SLIMSCOPE, DEMO_WORK, DEMO_OUT, DEMO_THREADS, DEMO_SEEDS.
SS=${SLIMSCOPE:-./slimscope}
WORK=${DEMO_WORK:-build/demo}     # corpus, tokenizer, task data, evaluation outputs (not committed)
OUT=${DEMO_OUT:-models/demo}      # base model, adapters, logs, RESULTS.md (committed)
THREADS=${DEMO_THREADS:-2}
# the downstream data: the test sets depend only on the seed and --test, never on --train
DATA_ARGS="--seed 1 --train 20000 --test 200"
TASKS="add date reverse max"
# every adapter is trained with each seed; the first seed's adapters are the shipped ones
SEEDS=${DEMO_SEEDS:-"1337 1338 1339"}
FIRST_SEED=${SEEDS%% *}
METHODS="lora moelora slim"
# adapter_dir METHOD SEED / log_file METHOD SEED: where recipe.sh writes them and eval.sh reads them
adapter_dir() { if [ "$2" = "$FIRST_SEED" ]; then echo "$OUT/$1"; else echo "$OUT/seeds/$1-$2"; fi; }
log_file() { if [ "$2" = "$FIRST_SEED" ]; then echo "$OUT/logs/$1.csv"; else echo "$OUT/logs/$1-$2.csv"; fi; }
