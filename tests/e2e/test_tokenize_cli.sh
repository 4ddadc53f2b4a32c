#!/bin/sh
# test_tokenize_cli.sh: `slimscope tokenize` on a directory holding only a tiny hand-written
# byte-level tokenizer.json (expected ids derived by hand from its merge ranks, as in
# tests/unit/test_tokenizer.c): --text, --file, --no-special, --decode, --help, and one-line errors
# with exit status 1. Prints TAP. SLIMSCOPE may name another binary (default: ./slimscope).
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SLIMSCOPE:-$root/slimscope}
n=0; status=0
check() { # name, expected, actual
    n=$((n + 1))
    if [ "$2" = "$3" ]; then echo "ok $n - tokenize $1"
    else echo "not ok $n - tokenize $1"; echo "#   want: $2"; echo "#   got:  $3"; status=1; fi
}
if [ ! -x "$bin" ]; then echo "not ok 1 - tokenize: $bin is not built (run make)"; echo "1..1"; exit 1; fi
dir=$(mktemp -d); trap 'rm -rf "$dir"' EXIT
# Merge ranks: b c, a b, Ġ a, Ġa b, Ã ©, a a. Template: <s> A <|end|>.
cat >"$dir/tokenizer.json" <<'JSON'
{"added_tokens": [
  {"id": 20, "content": "<|end|>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
  {"id": 24, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}],
 "normalizer": null,
 "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
 "post_processor": {"type": "TemplateProcessing",
   "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
              {"SpecialToken": {"id": "<|end|>", "type_id": 0}}], "pair": [],
   "special_tokens": {"<s>": {"id": "<s>", "ids": [24], "tokens": ["<s>"]},
                      "<|end|>": {"id": "<|end|>", "ids": [20], "tokens": ["<|end|>"]}}},
 "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
 "model": {"type": "BPE", "dropout": null, "unk_token": null, "fuse_unk": false, "byte_fallback": false,
   "vocab": {"a": 0, "b": 1, "c": 2, "Ġ": 3, "ab": 4, "bc": 5, "Ġa": 6, "Ġab": 7, "Ã": 8, "©": 9,
             "Ã©": 10, "!": 11, "aa": 12},
   "merges": [["b", "c"], "a b", ["Ġ", "a"], "Ġa b", ["Ã", "©"], "a a"]}}
JSON
check "--text adds the template's special tokens" "[24,0,5,20]" "$("$bin" tokenize --model "$dir" --text abc)"
check "--no-special" "[0,5]" "$("$bin" tokenize --model "$dir" --text abc --no-special)"
printf 'abc aaa' >"$dir/in.txt"
check "--file" "[0,5,6,12]" "$("$bin" tokenize --model "$dir" --file "$dir/in.txt" --no-special)"
check "--text with a special token inside" "[24,0,20,1,20]" "$("$bin" tokenize --model "$dir" --text 'a<|end|>b')"
check "--decode" "<s>abc<|end|>" "$("$bin" tokenize --model "$dir" --decode 24,0,5,20)"
check "--decode --no-special skips special tokens" "abc é" "$("$bin" tokenize --model "$dir" --decode '[24, 0, 5, 3, 8, 9, 20]' --no-special)"
out=$("$bin" tokenize --help); rc=$?
check "--help exits 0 and lists --decode" "0 yes" "$rc $(echo "$out" | grep -q -- --decode && echo yes)"
err() { # name, needle, args...: exit status 1, nothing on stdout, one stderr line holding needle
    name=$1; needle=$2; shift 2
    "$bin" tokenize "$@" >"$dir/out" 2>"$dir/err"; rc=$?
    lines=$(wc -l <"$dir/err" | tr -d ' ')
    has=$(grep -c -- "$needle" "$dir/err")
    check "$name" "1 0 1 1" "$rc $(wc -c <"$dir/out" | tr -d ' ') $lines $has"
    [ "$has" = 1 ] || sed 's/^/#   stderr: /' "$dir/err"
}
err "error: no --model" "--model DIR is required" --text abc
err "error: bad id" "'x' is not a token id" --model "$dir" --decode 1,x
err "error: id outside the vocabulary" "outside the vocabulary" --model "$dir" --decode 25
err "error: no tokenizer.json" "tokenizer.json: not found" --model "$dir/none" --text abc
err "error: two inputs" "exactly one of" --model "$dir" --text a --decode 1
err "error: unknown option" "unknown option '--frobnicate'" --model "$dir" --frobnicate
mkdir "$dir/bad"; printf '{"model": {"type": "WordPiece", "vocab": {}}}' >"$dir/bad/tokenizer.json"
err "error: unsupported model names the file" "bad/tokenizer.json: model.type 'WordPiece' is not supported" --model "$dir/bad" --text a
echo "1..$n"
exit $status
