#!/bin/sh
# Sanity checks of the shipped demo (models/demo, or DEMO_DIR): the base model loads and generates
# English-like text, the adapters load, and the SLIM adapter routes general text to its identity
# experts more than the downstream task prompts (mean identity share over blocks and tokens).
# Prints TAP lines.
BIN=${SLIMSCOPE_BIN:-./slimscope}
D=${DEMO_DIR:-models/demo}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }

[ -x "$BIN" ] || { no "binary $BIN exists"; exit 1; }
if [ ! -f "$D/base/config.json" ]; then
    echo "ok 1 - demo model present # SKIP models/demo/base is not built (make demo)"
    exit 0
fi
check "inspect loads the base model" '"$BIN" inspect --model $D/base > "$T/inspect.txt" 2>&1'
for a in lora moelora slim; do
    check "the $a adapter loads against the base model" '"$BIN" inspect --model $D/base --adapter $D/$a > /dev/null 2>&1'
done
# the adapters of the other seeds (RESULTS.md reports the mean and spread over all of them)
for a in "$D"/seeds/*/; do
    [ -f "$a/adapter_config.json" ] || continue
    check "the seed adapter $(basename "$a") loads" '"$BIN" inspect --model $D/base --adapter "$a" > /dev/null 2>&1'
done
out=$("$BIN" generate --model $D/base --prompt "The king said unto them" -n 24 --seed 1 2>/dev/null)
words=$(printf '%s' "$out" | tr -cs 'A-Za-z' '\n' | grep -c '[a-z]')
check "the base model generates words (got: $out)" '[ "$words" -ge 8 ]'
task=$("$BIN" generate --model $D/base --adapter $D/slim --prompt "Q: 12+30= A:" -n 4 2>/dev/null)
check "with the SLIM adapter an addition prompt is answered by a number (got: $task)" 'printf "%s" "$task" | grep -q "A: *[0-9]"'

# general held-out text (licence texts are not in the training corpus) vs the task prompts
awk 'BEGIN{RS=""} NR>=3 && NR<=30 {print; print ""}' /usr/share/common-licenses/GPL-3 > "$T/general.txt"
"$BIN" demo-data --out "$T/data" --train 8 --test 40 >/dev/null 2>&1
for f in "$T"/data/test_*.jsonl; do
    node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) console.log(JSON.parse(l).prompt + "\n")' "$f"
done > "$T/prompts.txt"
"$BIN" profile --model $D/base --adapter $D/slim --data "$T/general.txt" --out "$T/general.csv" >/dev/null 2>&1
"$BIN" profile --model $D/base --adapter $D/slim --data "$T/prompts.txt" --out "$T/prompts.csv" >/dev/null 2>&1
# identity_share (column 7) is per block, repeated on each expert's row: average the blocks
share() { awk -F, 'NR > 1 && $2 == 0 {s += $7; k++} END {if (k) printf "%.4f", s / k}' "$1"; }
g=$(share "$T/general.csv"); p=$(share "$T/prompts.csv")
check "identity share on general text ($g) exceeds that on task prompts ($p)" \
    '[ -n "$g" ] && [ -n "$p" ] && awk -v g="$g" -v p="$p" "BEGIN {exit !(g > p)}"'
echo "1..$n"
