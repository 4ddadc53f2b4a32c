#!/bin/sh
# End-to-end checks of the SLIM commands through the real binary: forward/generate with adapters,
# modes and masks, trace JSONL, sweep CSV, profile. Prints TAP lines.
BIN=${SLIMSCOPE_BIN:-./slimscope}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }

[ -x "$BIN" ] || { no "binary $BIN exists"; exit 1; }
$BIN make-test-model --out "$T/m" --adapter-out "$T/a" --layers 3 --dim 64 --vocab 300 || { no "make-test-model"; exit 1; }
IDS=5,17,42,99,3,250,7,8

# mode off = base model, bit for bit
$BIN forward --model "$T/m" --ids $IDS --all-positions --dump-logits "$T/base.bin" 2>/dev/null
$BIN forward --model "$T/m" --adapter "$T/a" --adapter-mode off --ids $IDS --all-positions --dump-logits "$T/off.bin" 2>/dev/null
$BIN forward --model "$T/m" --adapter "$T/a" --ids $IDS --all-positions --dump-logits "$T/slim.bin" 2>/dev/null
check "adapter-mode off gives the base model's logits" 'cmp -s "$T/base.bin" "$T/off.bin"'
check "the SLIM adapter changes the logits" '! cmp -s "$T/base.bin" "$T/slim.bin"'
check "logits file holds positions x vocab float32" '[ "$(stat -c %s "$T/base.bin")" -eq $((8 * 300 * 4)) ]'

# the same mask seed gives the same masks in two processes; another seed differs
for i in 1 2; do
    $BIN forward --model "$T/m" --adapter "$T/a" --mask-ratio 0.5 --mask-seed 7 --ids $IDS --dump-logits "$T/m7_$i.bin" 2>/dev/null
done
$BIN forward --model "$T/m" --adapter "$T/a" --mask-ratio 0.5 --mask-seed 8 --ids $IDS --dump-logits "$T/m8.bin" 2>/dev/null
check "same mask seed, same logits in two processes" 'cmp -s "$T/m7_1.bin" "$T/m7_2.bin"'
check "another mask seed, other logits" '! cmp -s "$T/m7_1.bin" "$T/m8.bin"'

# forcing identity experts (named i0, i1) at every block = base model
$BIN forward --model "$T/m" --adapter "$T/a" --force 0:i0 --force 1:i0 --force 2:i1 --ids $IDS --all-positions --dump-logits "$T/forced.bin" 2>/dev/null
check "forcing identity experts everywhere gives the base model" 'cmp -s "$T/base.bin" "$T/forced.bin"'
# LoRA experts are named 0..7 (2 identity + 8 LoRA experts): --force 1:3 is index 2 + 3 = 5 in the
# router's order, and the trace names it "3" among the kept experts
$BIN trace --model "$T/m" --adapter "$T/a" --ids $IDS -n 0 --force 1:3 --out "$T/f.jsonl" 2>/dev/null
check "--force 1:3 puts all the weight on LoRA expert 3 (index 5), kept as \"3\" in the trace" 'node -e "
const L=require(\"fs\").readFileSync(process.argv[1],\"utf8\").trim().split(\"\\n\").map(JSON.parse).filter(o=>o.layer===1);
if(L.length!==8) process.exit(1);
for(const o of L){if(JSON.stringify(o.kept)!==JSON.stringify([\"3\"])||o.w[5]!==1||o.identity_share!==0) process.exit(2);}" "$T/f.jsonl"'
err=$($BIN forward --model "$T/m" --adapter "$T/a" --force 1:i2 --ids 1 --dump-logits "$T/x" 2>&1); rc=$?
check "--force with an expert that does not exist names the experts there are" '[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$err" = "--force 1:i2: expert i2 does not exist (LoRA 0..7 or identity i0..i1)" ]'
$BIN forward --model "$T/m" --adapter "$T/a" --adapter-layers 1 --ids $IDS --all-positions --dump-logits "$T/l1.bin" 2>/dev/null
check "adapter on block 1 only differs from both base and full adapter" '! cmp -s "$T/base.bin" "$T/l1.bin" && ! cmp -s "$T/slim.bin" "$T/l1.bin"'

# generate: same seed, same output
g1=$($BIN generate --model "$T/m" --adapter "$T/a" --ids $IDS -n 12 --temp 0.9 --top-p 0.9 --seed 3 2>/dev/null)
g2=$($BIN generate --model "$T/m" --adapter "$T/a" --ids $IDS -n 12 --temp 0.9 --top-p 0.9 --seed 3 2>/dev/null)
check "generate: same seed, same ids" '[ -n "$g1" ] && [ "$g1" = "$g2" ]'

# trace: one JSON object per position and block, renamed into place
$BIN trace --model "$T/m" --adapter "$T/a" --ids $IDS -n 4 --out "$T/t.jsonl" 2>/dev/null
lines=$(wc -l < "$T/t.jsonl" 2>/dev/null)
check "trace has (8 + 4) positions x 3 blocks lines" '[ "$lines" = 36 ]'
check "trace leaves no temporary file" '[ -z "$(ls "$T" | grep tmp)" ]'
check "trace lines are JSON with the documented fields" 'node -e "
const fs=require(\"fs\");const L=fs.readFileSync(process.argv[1],\"utf8\").trim().split(\"\\n\").map(JSON.parse);
for(const o of L){for(const k of [\"pos\",\"token\",\"layer\",\"routed\",\"identity_share\",\"rel_delta\"]) if(!(k in o)) process.exit(1);
 if(o.routed){const s=o.w.reduce((a,b)=>a+b,0); if(Math.abs(s-1)>1e-4||o.kept.length!==2) process.exit(2);
 const ids=o.w[0]+o.w[1]; if(Math.abs(ids-o.identity_share)>1e-5) process.exit(3);}}
if(!(\"next_top\" in L[2])) process.exit(4);" "$T/t.jsonl"'

$BIN trace --model "$T/m" --adapter "$T/a" --ids $IDS -n 4 --lens --out "$T/tl.jsonl" 2>/dev/null
check "trace --lens: a lens [id, p] on every line; the last block's is the top next token" 'node -e "
const L=require(\"fs\").readFileSync(process.argv[1],\"utf8\").trim().split(\"\\n\").map(JSON.parse);
for(const o of L){if(!Array.isArray(o.lens)||!(o.lens[1]>0&&o.lens[1]<=1)) process.exit(1);
 if(o.next_top&&(o.lens[0]!==o.next_top[0][0]||Math.abs(o.lens[1]-o.next_top[0][1])>1e-5)) process.exit(2);}" "$T/tl.jsonl"'

# sweep: p = 0 rows agree with themselves
$BIN sweep --model "$T/m" --adapter "$T/a" --ids $IDS --ratios 0,0.5 --seeds 2 > "$T/sweep.csv" 2>/dev/null
check "sweep prints a header and 4 rows" '[ "$(wc -l < "$T/sweep.csv")" = 5 ] && head -1 "$T/sweep.csv" | grep -q "^ratio,seed,kl_p0_p,kl_base_p"'
check "sweep at p = 0: KL 0 and full agreement with p = 0" 'sed -n 2p "$T/sweep.csv" | grep -q "^0,[0-9]*,0,[0-9.e-]*,1.0000,"'
check "sweep at p = 0.5: positive KL" 'sed -n 4p "$T/sweep.csv" | awk -F, "{exit !(\$3 > 0)}"'

# profile needs a tokenizer: a byte-level one with no merges (256 byte tokens) is enough
node -e '
const bs=[];for(let b=33;b<=126;b++)bs.push(b);for(let b=161;b<=172;b++)bs.push(b);for(let b=174;b<=255;b++)bs.push(b);
const cs=bs.slice();let k=0;for(let b=0;b<256;b++)if(!bs.includes(b)){bs.push(b);cs.push(256+k++);}
const vocab={};bs.forEach((b,i)=>{vocab[String.fromCodePoint(cs[i])]=b;});
const tj={version:"1.0",added_tokens:[],normalizer:null,
 pre_tokenizer:{type:"ByteLevel",add_prefix_space:false,trim_offsets:true,use_regex:true},
 post_processor:null,decoder:{type:"ByteLevel",add_prefix_space:true,trim_offsets:true,use_regex:true},
 model:{type:"BPE",dropout:null,unk_token:null,continuing_subword_prefix:null,end_of_word_suffix:null,fuse_unk:false,byte_fallback:false,vocab,merges:[]}};
require("fs").writeFileSync(process.argv[1],JSON.stringify(tj));' "$T/m/tokenizer.json"
printf 'The cat sat on the mat.\n\nA second document, longer than the first one.\n' > "$T/text.txt"
printf '{"prompt": "Q: 2+2=", "response": " 4"}\n{"prompt": "spell: cat ->", "response": " c a t"}\n' > "$T/tasks.jsonl"
$BIN profile --model "$T/m" --adapter "$T/a" --data "$T/text.txt" --out "$T/prof.csv" > "$T/prof.txt" 2>&1
check "profile writes one CSV row per block and expert" '[ "$(wc -l < "$T/prof.csv")" = $((1 + 3 * 10)) ]'
check "profile: keep shares of a block sum to top_k" 'awk -F, "NR>1 && \$1==0 {s+=\$4} END {exit !(s>1.999 && s<2.001)}" "$T/prof.csv"'
$BIN profile --model "$T/m" --adapter "$T/a" --data "$T/tasks.jsonl" > "$T/prof2.txt" 2>&1
check "profile reads prompt/response JSONL" 'grep -q "over [0-9]* tokens (2 texts)" "$T/prof2.txt"'
# a plain LoRA (the demo's) has no clusters: identity share 0 at every block, d reported as n/a
$BIN profile --model models/demo/base --adapter models/demo/lora --data "$T/text.txt" --out "$T/prof3.csv" > "$T/prof3.txt" 2>&1
check "profile of a plain LoRA: identity share 0 and d n/a on every block" '[ "$(grep -cE "^ +[0-9]+ +0\.000 +n/a +n/a +n/a" "$T/prof3.txt")" = "$(grep -o "\"num_hidden_layers\":[[:space:]]*[0-9]*" models/demo/base/config.json | grep -o "[0-9]*$")" ]'
check "profile CSV of a plain LoRA leaves the d columns empty" 'awk -F, "NR>1 && (\$7 != \"0.000000\" || \$8 != \"\" || \$10 != \"\") {bad=1} END {exit bad || NR < 2}" "$T/prof3.csv"'

# bad SLIM input: one line, non-zero exit
err=$($BIN forward --model "$T/m" --adapter "$T/a" --mask-ratio 1.2 --ids 1 --dump-logits "$T/x" 2>&1); rc=$?
check "mask ratio 1.2 is a one-line error" '[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$(printf "%s\n" "$err" | wc -l)" = 1 ] && printf "%s" "$err" | grep -q "mask-ratio"'
err=$($BIN forward --model "$T/m" --adapter "$T/a" --force 9:0 --ids 1 --dump-logits "$T/x" 2>&1); rc=$?
check "forcing a missing block is a one-line error" '[ $rc -ne 0 ] && [ $rc -lt 128 ] && printf "%s" "$err" | grep -q "block 9 does not exist"'
echo "1..$n"
