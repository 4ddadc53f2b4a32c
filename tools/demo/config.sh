# config.sh: settings shared by tools/demo/recipe.sh and tools/demo/eval.sh (sourced, not run).
# Environment overrides: SLIMSCOPE, DEMO_WORK, DEMO_OUT, DEMO_THREADS.
SS=${SLIMSCOPE:-./slimscope}
WORK=${DEMO_WORK:-build/demo}     # corpus, tokenizer, task data, evaluation outputs (not committed)
OUT=${DEMO_OUT:-models/demo}      # base model, adapters, logs, RESULTS.md (committed)
THREADS=${DEMO_THREADS:-2}
# the downstream data: the test sets depend only on the seed and --test, never on --train
DATA_ARGS="--seed 1 --train 20000 --test 200"
TASKS="add date reverse max"
