#!/bin/sh
# eval.sh: `make demo-eval`: writes models/demo/RESULTS.md from `slimscope eval` and `slimscope
# profile` (issues 6 and 15). For the base model and for LoRA, MoE-LoRA and SLIM of every seed,
# each at mask ratios p = 0, 0.3 and 0.6:
#   - greedy exact-match accuracy on each task's held-out examples (test_<task>.jsonl),
#   - perplexity (and nats per token) on the general held-out text (general_valid.txt);
# for the SLIM adapters the identity share on general text, task prompts and task responses; the
# base model's perplexity on the general snippets the training curves were measured on.
# Needs the committed models (models/demo/base, the first seed's adapters, and those of the other
# seeds that were trained); the corpus, the task data and the snippets are rebuilt when missing
# (all deterministic).
# Raw outputs: $WORK/eval/*.out, *.csv; the tables: tools/demo/results.py.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
. tools/demo/config.sh
VALID=$WORK/corpus/general_valid.txt
SNIPPETS=$WORK/data/general_snippets.jsonl
E=$WORK/eval

[ -x "$SS" ] || {
    echo "eval: $SS not found; run make first" >&2
    exit 1
}
need_file() {
    [ -f "$1" ] || {
        echo "eval: $1 is missing; run make demo (tools/demo/recipe.sh) first" >&2
        exit 1
    }
}
need_file "$OUT/base/config.json"
for m in $METHODS; do need_file "$(adapter_dir "$m" "$FIRST_SEED")/adapter_config.json"; done
[ -f "$VALID" ] || sh tools/demo/corpus.sh "$WORK/corpus"
for t in $TASKS; do
    if [ ! -f "$WORK/data/test_$t.jsonl" ]; then
        # shellcheck disable=SC2086
        "$SS" demo-data --out "$WORK/data" $DATA_ARGS
        break
    fi
done
[ -f "$SNIPPETS" ] || python3 tools/demo/general_snippets.py "$VALID" "$SNIPPETS"
mkdir -p "$E"
rm -f "$E"/*.out "$E"/*.err "$E"/*.csv "$E"/*.jsonl
: >"$E/test_all.jsonl"
for t in $TASKS; do cat "$WORK/data/test_$t.jsonl" >>"$E/test_all.jsonl"; done
# the prompts alone (empty responses): the profile of prompt + response minus this one gives the
# identity share of the response tokens
python3 -c 'import json, sys
for l in open(sys.argv[1]): print(json.dumps({"prompt": json.loads(l)["prompt"], "response": ""}))' \
    "$E/test_all.jsonl" >"$E/prompts.jsonl"

# run KEY.SUFFIX command...: stdout to $E/KEY.SUFFIX.out; one error line and the tail on failure
run() {
    out=$1
    shift
    if ! "$@" >"$E/$out.out" 2>"$E/$out.err"; then
        echo "eval: '$SS $2' failed for $out:" >&2
        tail -5 "$E/$out.err" >&2
        exit 1
    fi
}

# evaluate KEY [eval options]: perplexity on the general text, then exact match on every task
# (one run; eval prints a line per task). ppl: the first 100 windows of 256 tokens (25,600 scored
# tokens, about a quarter of the held-out text; its documents are in hash order, so every source is
# in it); exact: answers are at most 11 tokens + EOS.
evaluate() {
    key=$1
    shift
    echo "eval: $key"
    run "$key.ppl" "$SS" eval --model "$OUT/base" "$@" --data "$VALID" --metric ppl --limit 100 --threads "$THREADS"
    run "$key.exact" "$SS" eval --model "$OUT/base" "$@" --data "$E/test_all.jsonl" --metric exact --max-new 16 \
        --threads "$THREADS"
    cat "$E/$key.ppl.out" "$E/$key.exact.out"
}

evaluate base
run base.snippets "$SS" eval --model "$OUT/base" --data "$SNIPPETS" --metric ppl --threads "$THREADS"
for m in $METHODS; do
    for s in $SEEDS; do
        dir=$(adapter_dir "$m" "$s")
        if [ ! -f "$dir/adapter_config.json" ]; then  # RESULTS.md says how many seeds each method had
            echo "eval: $dir is missing: $m has no seed $s"
            continue
        fi
        for p in 0 0.3 0.6; do evaluate "${m}_${s}_p$p" --adapter "$dir" --mask-ratio $p; done
        [ "$m" = slim ] || continue
        for part in general:"$SNIPPETS" prompts:"$E/prompts.jsonl" full:"$E/test_all.jsonl"; do
            run "slim_$s.${part%%:*}" "$SS" profile --model "$OUT/base" --adapter "$dir" --data "${part#*:}" \
                --out "$E/slim_$s.${part%%:*}.csv" --threads "$THREADS"
        done
    done
done

python3 tools/demo/results.py --eval "$E" --out "$OUT" --work "$WORK" --threads "$THREADS" --seeds "$SEEDS" \
    >"$OUT/RESULTS.md.tmp"
mv "$OUT/RESULTS.md.tmp" "$OUT/RESULTS.md"
echo "eval: wrote $OUT/RESULTS.md"
