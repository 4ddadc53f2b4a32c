#!/bin/sh
# eval.sh: `make demo-eval`: writes models/demo/RESULTS.md from `slimscope eval` (issue 6, item 6).
# For the base model alone, LoRA, MoE-LoRA, SLIM, and SLIM at mask ratios 0.3 and 0.6:
#   - greedy exact-match accuracy on each task's held-out examples (test_<task>.jsonl),
#   - perplexity on the general held-out text (general_valid.txt) and its increase over the base.
# Needs the committed models (models/demo/base, lora, moelora, slim); the corpus and the task
# data are rebuilt when missing (tools/demo/corpus.sh, slimscope demo-data: both deterministic).
# Raw outputs: $WORK/eval/*.out; the tables: tools/demo/results.py.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. tools/demo/config.sh
VALID=$WORK/corpus/general_valid.txt
E=$WORK/eval

[ -x "$SS" ] || {
    echo "eval: $SS not found; run make first" >&2
    exit 1
}
for d in base lora moelora slim; do
    f=$OUT/$d/adapter_config.json
    [ "$d" = base ] && f=$OUT/base/config.json
    [ -f "$f" ] || {
        echo "eval: $f is missing; run make demo (tools/demo/recipe.sh) first" >&2
        exit 1
    }
done
[ -f "$VALID" ] || sh tools/demo/corpus.sh "$WORK/corpus"
for t in $TASKS; do
    if [ ! -f "$WORK/data/test_$t.jsonl" ]; then
        # shellcheck disable=SC2086
        "$SS" demo-data --out "$WORK/data" $DATA_ARGS
        break
    fi
done
mkdir -p "$E"
rm -f "$E"/*.out "$E"/*.err
: >"$E/test_all.jsonl"
for t in $TASKS; do cat "$WORK/data/test_$t.jsonl" >>"$E/test_all.jsonl"; done

# evaluate KEY [eval options]: perplexity on the general text, then exact match on every task
# (one run; eval prints a line per task).
evaluate() {
    key=$1
    shift
    echo "eval: $key"
    for m in ppl exact; do
        # ppl: the first 200 windows of 256 tokens (51,200 scored tokens, ~half of the held-out
        # text; its documents are in hash order, so every source is in it); exact: answers are at
        # most 11 tokens + EOS
        data=$VALID
        extra="--limit 200"
        [ $m = exact ] && data=$E/test_all.jsonl && extra="--max-new 16"
        # shellcheck disable=SC2086
        if ! "$SS" eval --model "$OUT/base" "$@" --data "$data" --metric $m $extra --threads "$THREADS" \
            >"$E/$key.$m.out" 2>"$E/$key.$m.err"; then
            echo "eval: '$SS eval' failed for $key ($m):" >&2
            tail -5 "$E/$key.$m.err" >&2
            exit 1
        fi
        cat "$E/$key.$m.out"
    done
}

evaluate base
evaluate lora --adapter "$OUT/lora" --mask-ratio 0
evaluate moelora --adapter "$OUT/moelora" --mask-ratio 0
evaluate slim --adapter "$OUT/slim" --mask-ratio 0
evaluate slim_p0.3 --adapter "$OUT/slim" --mask-ratio 0.3
evaluate slim_p0.6 --adapter "$OUT/slim" --mask-ratio 0.6

python3 tools/demo/results.py --eval "$E" --out "$OUT" --work "$WORK" --threads "$THREADS" >"$OUT/RESULTS.md.tmp"
mv "$OUT/RESULTS.md.tmp" "$OUT/RESULTS.md"
echo "eval: wrote $OUT/RESULTS.md"
