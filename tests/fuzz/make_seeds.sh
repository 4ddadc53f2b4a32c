#!/bin/sh
# make_seeds.sh: re-creates the fuzz targets' committed inputs from the repository's own: the small
# model fuzz_adapter loads (tests/fuzz/adapter_model/, from make-test-model), and the seed corpora
# (tests/fuzz/NAME_seeds/ for fuzz_NAME.c) from that model and its adapter, models/demo, the
# malformed cases of tests/bad (their edits applied to the small model's files), demo-data and a few
# hand-made inputs. Run from the repository root after `make`; the seeds only steer the fuzzers
# (they need not be re-made when the code changes). tokenizer_seeds/ is hand-written.
set -e
BIN=${SLIMSCOPE_BIN:-./slimscope}
F=tests/fuzz
T=$(mktemp -d "${TMPDIR:-/tmp}/slimscope-seeds-XXXXXX")
trap 'rm -rf "$T"' EXIT INT TERM

# le64 N: N as 8 little-endian bytes (the safetensors header length)
le64() { n=$1; i=0; while [ $i -lt 8 ]; do printf "\\$(printf %03o $((n % 256)))"; n=$((n / 256)); i=$((i + 1)); done; }
# floats N: N float32 values 0.01
floats() { i=0; while [ $i -lt "$1" ]; do printf '\012\327\043\074'; i=$((i + 1)); done; }
# safetensors OUT HEADER-JSON FLOATS: a file with that header and FLOATS float32 values of data
safetensors() { { le64 ${#2}; printf '%s' "$2"; floats "$3"; } >"$1"; }
# pack OUT DIR: adapter_config.json, a NUL byte, adapter_model.safetensors (fuzz_adapter's input)
pack() { { cat "$2/adapter_config.json"; printf '\000'; cat "$2/adapter_model.safetensors"; } >"$1"; }
# edits_of PREFIX FILE: the sed expressions tests/bad applies to FILE (model/config.json, ...)
edits_of() { for e in tests/bad/$1*/edit; do grep -F "$2	" "$e" | sed "s|^[^	]*	|${e%/edit}	|"; done; }

"$BIN" make-test-model --out "$T/m" --adapter-out "$T/a" --dim 16 --layers 2 --vocab 32 --seed 3
"$BIN" make-test-model --out "$T/m16" --adapter-out "$T/a16" --dim 16 --layers 2 --vocab 32 --seed 3 --dtype bf16
rm -rf $F/adapter_model $F/*_seeds.new
mkdir -p $F/adapter_model
cp "$T/m/config.json" "$T/m/model.safetensors" $F/adapter_model/

# fuzz_adapter: the small model's SLIM adapter (f32, bf16), tests/bad's adapter edits (on the bf16 one), a hand-made
# PEFT LoRA adapter (two projections, one with its own rank), and the adapter for another model.
S=$F/adapter_seeds.new
mkdir -p $S
pack $S/slim_f32 "$T/a"
pack $S/slim_bf16 "$T/a16"
edits_of adapter adapter/adapter_config.json | while IFS="$(printf '\t')" read -r case expr; do
    rm -rf "$T/e" && cp -R "$T/a16" "$T/e" && sed -i "$expr" "$T/e/adapter_config.json" && pack "$S/${case##*/}" "$T/e"
done
mkdir -p "$T/lora"
printf '{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "down_proj"], "rank_pattern": {"down_proj": 1}, "use_rslora": false}' >"$T/lora/adapter_config.json"
p=base_model.model.model.layers.0
safetensors "$T/lora/adapter_model.safetensors" "{\"$p.self_attn.q_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[2,16],\"data_offsets\":[0,128]},\"$p.self_attn.q_proj.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[16,2],\"data_offsets\":[128,256]},\"$p.mlp.down_proj.lora_A.weight\":{\"dtype\":\"F32\",\"shape\":[1,40],\"data_offsets\":[256,416]},\"$p.mlp.down_proj.lora_B.weight\":{\"dtype\":\"F32\",\"shape\":[16,1],\"data_offsets\":[416,480]}}" 120
pack $S/lora_rank_pattern "$T/lora"
pack $S/other_model tests/bad/adapter_other_model/adapter

# fuzz_config: the demo's and the small model's config.json, tests/bad's config edits, and the
# other architectures and rope scalings by hand.
S=$F/config_seeds.new
mkdir -p $S
cp models/demo/base/config.json $S/demo
cp "$T/m/config.json" $S/small
edits_of config model/config.json | while IFS="$(printf '\t')" read -r case expr; do
    cp "$T/m/config.json" "$S/${case##*/}" && sed -i "$expr" "$S/${case##*/}"
done
printf '{"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100, "sliding_window": 4096, "rope_theta": 1000000.0, "eos_token_id": [2, 3], "torch_dtype": "bfloat16"}' >$S/mistral
printf '{"model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 50, "tie_word_embeddings": true, "rms_norm_eps": 1e-6, "bos_token_id": null}' >$S/qwen2
printf '{"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "head_dim": 8, "vocab_size": 64, "attention_bias": true, "mlp_bias": true, "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}}' >$S/llama3_rope
printf '{"model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 64, "rope_theta": 0.5, "rope_scaling": {"type": "linear", "factor": 1e-30}}' >$S/linear_rope_tiny

# fuzz_safetensors: the small model and adapter (f32, bf16) and tests/bad's malformed files
S=$F/safetensors_seeds.new
mkdir -p $S
cp "$T/m/model.safetensors" $S/model_f32
cp "$T/m16/model.safetensors" $S/model_bf16
cp "$T/a/adapter_model.safetensors" $S/adapter_f32
cp "$T/lora/adapter_model.safetensors" $S/lora
for c in tests/bad/safetensors_*/model/model.safetensors; do
    [ -f "$c" ] && [ ! -L "$c" ] && [ -s "$c" ] && { c2=${c%/model/model.safetensors}; cp "$c" "$S/${c2##*/}"; }
done

# fuzz_jsonl: demo-data's tasks (a few lines each) and hand-made edge cases
S=$F/jsonl_seeds.new
mkdir -p $S
"$BIN" demo-data --out "$T/dd" --train 8 --test 2 >/dev/null
cp "$T/dd/train.jsonl" $S/demo_train
printf '{"prompt": "a \\u00e9\\ud83d\\udc4d \\"q\\"", "response": "<|endoftext|>b"}\n\n   \n{"prompt": "", "response": ""}\n' >$S/escapes_blank
printf '{"prompt": "x", "response": 1}\n[1, 2]\nnot json\n{"prompt": "p"}\n{"prompt": "ok", "response": "yes"}\n' >$S/bad_lines
printf 'first document\nwith two lines\n<|endoftext|>\nsecond one\n\nthird after a blank\n' >$S/plain_text

# fuzz_encode: first byte = tokenizer (0 demo, 1 byte_level, 2 metaspace, 3 normalizers, 4 sentencepiece)
S=$F/encode_seeds.new
mkdir -p $S
{ printf '\000'; sed -n 1,12p README.md; } >$S/demo_readme
printf '\000Hello world, it'"'"'s 12345 <|endoftext|> caf\303\251 e\314\201 \344\275\240\345\245\275 \360\237\221\215\r\n\t x' >$S/demo_mixed
printf '\000\377\376 bad \303 \355\240\200 \300\257 \364\220\200\200 end\303' >$S/demo_invalid_utf8
printf '\001a<x>b [w] <r>c<s>d<|end|>  e' >$S/byte_level_added
printf '\002\342\226\201hello  world \342\226\201' >$S/metaspace
printf '\003World  HELLO\tworld \357\274\241' >$S/normalizers
printf '\004<s> the </s><unk> caf\303\251 12' >$S/sentencepiece

for S in adapter config safetensors jsonl encode; do rm -rf $F/${S}_seeds && mv $F/${S}_seeds.new $F/${S}_seeds; done
du -sh $F/adapter_model $F/*_seeds
