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

# trace: a settings line, then one JSON object per position and block, renamed into place
$BIN trace --model "$T/m" --adapter "$T/a" --ids $IDS -n 4 --out "$T/t.jsonl" 2>/dev/null
lines=$(wc -l < "$T/t.jsonl" 2>/dev/null)
check "trace has 1 settings line + (8 + 4) positions x 3 blocks lines" '[ "$lines" = 37 ]'
check "trace leaves no temporary file" '[ -z "$(ls "$T" | grep tmp)" ]'
check "trace lines are JSON with the documented fields" 'node -e "
const fs=require(\"fs\");const L=fs.readFileSync(process.argv[1],\"utf8\").trim().split(\"\\n\").map(JSON.parse);
if(!L[0].settings) process.exit(5); L.shift();
for(const o of L){for(const k of [\"pos\",\"token\",\"source\",\"layer\",\"routed\",\"identity_share\",\"rel_delta\"]) if(!(k in o)) process.exit(1);
 if(o.source!==(o.pos<8?\"prompt\":\"generated\")) process.exit(6);
 if(o.routed){const s=o.w.reduce((a,b)=>a+b,0); if(Math.abs(s-1)>1e-4||o.kept.length!==2) process.exit(2);
 const ids=o.w[0]+o.w[1]; if(Math.abs(ids-o.identity_share)>1e-5) process.exit(3);}}
if(!(\"next_top\" in L[2])) process.exit(4);" "$T/t.jsonl"'

# the settings line holds what the positions were computed under, and running trace again with
# exactly those settings (and the prompt positions' tokens as --ids) writes the same file
$BIN trace --model "$T/m" --adapter "$T/a" --ids $IDS -n 5 --mask-ratio 0.3 --mask-seed 9 --mask-refresh per_token \
    --adapter-mode lora-only --force 1:4 --adapter-layers 0-1 --temp 0.7 --top-p 0.9 --seed 5 --ctx 100 --out "$T/ts.jsonl" 2>/dev/null
check "trace settings line: model, adapter, p, seeds, refresh, mode, forcing, layers, sampling, ctx, version" 'node -e "
const L=require(\"fs\").readFileSync(process.argv[1],\"utf8\").trim().split(\"\\n\"); const s=JSON.parse(L.shift()).settings;
const want={slimscope:process.argv[3],command:\"trace\",model:process.argv[2]+\"/m\",adapter:process.argv[2]+\"/a\",adapter_type:\"slim\",
 mask_ratio:0.3,mask_seed:9,mask_refresh:\"per_token\",adapter_mode:\"lora-only\",adapter_layers:\"0,1\",temp:0.7,top_p:0.9,seed:5,n:5,
 ctx:100,weights:\"native\"};
for(const k in want) if(s[k]!==want[k]){console.error(k,s[k]);process.exit(1);}
if(s.positions!==L.length/3) process.exit(3);
if(JSON.stringify(s.force)!==JSON.stringify([\"1:4\"])) process.exit(2);" "$T/ts.jsonl" "$T" "$($BIN --version | cut -d" " -f2)"'
args=$(node -e '
const L=require("fs").readFileSync(process.argv[1],"utf8").trim().split("\n").map(JSON.parse);const s=L[0].settings;
const ids=L.slice(1).filter(o=>o.layer===0&&o.source==="prompt").map(o=>o.token).join(",");
const a=["--model",s.model,"--adapter",s.adapter,"--ids",ids,"-n",s.n,"--mask-ratio",s.mask_ratio,"--mask-seed",s.mask_seed,
 "--mask-refresh",s.mask_refresh,"--adapter-mode",s.adapter_mode,"--temp",s.temp,"--top-p",s.top_p,"--seed",s.seed,"--ctx",s.ctx,
 "--weights",s.weights,"--device",s.device];
for(const f of s.force) a.push("--force",f); if(s.adapter_layers!==null) a.push("--adapter-layers",s.adapter_layers);
console.log(a.join(" "));' "$T/ts.jsonl")
$BIN trace $args --out "$T/ts2.jsonl" 2>/dev/null
check "trace again from its settings line writes the same file" '[ -n "$args" ] && cmp -s "$T/ts.jsonl" "$T/ts2.jsonl"'
err=$($BIN trace --model "$T/m" --adapter "$T/a" --ids $IDS -n 1 --device cpu --out "$T/nodir/t.jsonl" 2>&1); rc=$?
check "trace into a missing directory names the file given, not the temporary one" '[ $rc -eq 1 ] && [ "$err" = "$T/nodir/t.jsonl: cannot create: No such file or directory" ]'
out=$($BIN trace --model "$T/m" --adapter "$T/a" --ids $IDS -n 4 --out - 2>/dev/null)
check "trace --out - writes the same JSONL to standard output" '[ "$out" = "$(cat "$T/t.jsonl")" ]'

$BIN trace --model "$T/m" --adapter "$T/a" --ids $IDS -n 4 --lens --out "$T/tl.jsonl" 2>/dev/null
check "trace --lens: a lens [id, p] on every line; the last block's is the top next token" 'node -e "
const L=require(\"fs\").readFileSync(process.argv[1],\"utf8\").trim().split(\"\\n\").map(JSON.parse).slice(1);
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

# profile's header: each column name ends where the right-aligned numbers under it end, and each
# expert's name starts where its "keep/weight" pair starts
check "profile header columns line up with the values" 'node -e "
const t=require(\"fs\").readFileSync(process.argv[1],\"utf8\").split(\"\\n\");const i=t.findIndex(l=>l.startsWith(\"block\"));const h=t[i],r=t[i+1];
const ends=[],starts=[];for(const m of r.matchAll(/\\S+/g)){ends.push(m.index+m[0].length);starts.push(m.index);}
let at=0;const hend=[];for(const w of [\"block\",\"id share\",\"d mean\",\"d p50\",\"d p90\"]){at=h.indexOf(w,at)+w.length;hend.push(at);}
const hs=[...h.matchAll(/(?<!\\S)i?[0-9]+/g)].map(m=>m.index);
if(hs.length!==10||starts.length!==15) process.exit(1);
if(JSON.stringify(hend)!==JSON.stringify(ends.slice(0,5))) process.exit(2);
if(JSON.stringify(hs)!==JSON.stringify(starts.slice(5))) process.exit(3);" "$T/prof.txt"'

# -n past the context: generation stops at the limit, says so in one line on stderr, exit 0. With 8
# prompt ids in 10 positions: tokens 1 and 2 are fed (positions 8, 9), the 3rd is printed unfed
out=$($BIN generate --model "$T/m" --ids $IDS --ctx 10 -n 20 --device cpu 2>"$T/full.err"); rc=$?
check "generate -n 20 in a 10-position context prints 3 tokens, exit 0" '[ $rc -eq 0 ] && [ "$(echo "$out" | tr "," "\n" | grep -c "[0-9]")" = 3 ]'
check "... and one stderr line says it stopped at the context" '[ "$(grep -c "context" "$T/full.err")" = 1 ] && grep -qx "generate: stopped at the context limit of 10 positions after 3 of the 20 tokens asked for (--ctx)" "$T/full.err"'
err=$($BIN forward --model "$T/m" --ids $IDS --ctx 600 --device cpu --dump-logits "$T/x600" 2>&1); rc=$?
check "--ctx above the model's maximum warns (and runs)" '[ $rc -eq 0 ] && printf "%s" "$err" | grep -q "forward: --ctx 600 is above the model.s maximum of 512 positions"'

# CLI conventions: --version; - is standard input for --prompt, --data, --file, standard output for --out
check "--version prints the version" '$BIN --version | grep -qxE "slimscope [0-9]+\.[0-9]+\.[0-9]+"'
a=$($BIN generate --model "$T/m" --prompt "The cat" -n 3 2>/dev/null)
b=$(printf 'The cat\n' | $BIN generate --model "$T/m" --prompt - -n 3 2>/dev/null)
check "--prompt - reads the prompt from standard input (less its final newline)" '[ -n "$a" ] && [ "$a" = "$b" ]'
# a prompt of no tokens (this tokenizer adds none of its own) is one error line, not a double free
err=$($BIN generate --model "$T/m" --prompt "" --device cpu 2>&1); rc=$?
check "an empty prompt is refused in one line, exit 1" '[ $rc -eq 1 ] && [ "$err" = "generate: the prompt encodes to no tokens" ]'
err=$($BIN generate --model "$T/m" --prompt "$(printf '%520s' '' | tr ' ' x)" --device cpu 2>&1); rc=$?
check "a prompt longer than the context is refused with its size" '[ $rc -eq 1 ] && [ "$err" = "generate: prompt is 520 tokens; the context holds 512 (--ctx)" ]'
a=$($BIN tokenize --model "$T/m" --text "The cat sat" 2>&1)
b=$(printf 'The cat sat' | $BIN tokenize --model "$T/m" --file - 2>&1)
check "tokenize --file - reads standard input" '[ -n "$a" ] && [ "$a" = "$b" ]'
$BIN profile --model "$T/m" --adapter "$T/a" --data - --out - < "$T/tasks.jsonl" > "$T/prof4.csv" 2>"$T/prof4.txt"
$BIN profile --model "$T/m" --adapter "$T/a" --data "$T/tasks.jsonl" --out "$T/prof5.csv" > /dev/null 2>&1
check "profile --data - --out -: JSONL from standard input, the CSV alone on standard output" 'cmp -s "$T/prof4.csv" "$T/prof5.csv" && grep -q "over [0-9]* tokens (2 texts)" "$T/prof4.txt"'
a=$($BIN eval --model "$T/m" --data "$T/text.txt" --metric ppl 2>/dev/null)
b=$($BIN eval --model "$T/m" --data - --metric ppl < "$T/text.txt" 2>/dev/null)
check "eval --data - reads the text from standard input" '[ -n "$a" ] && [ "$a" = "$b" ]'
# progress on stderr only when it is a terminal (script gives the command one)
$BIN profile --model "$T/m" --adapter "$T/a" --data "$T/text.txt" > /dev/null 2>"$T/prog.err"
script -qec "$BIN profile --model $T/m --adapter $T/a --data $T/text.txt" /dev/null > "$T/prog.tty" 2>&1
check "profile shows its progress on a terminal, and none in a file" '! grep -q "texts (" "$T/prog.err" && grep -q "profile: 0/2 texts (0%)" "$T/prog.tty"'

# compare: the same adapter twice agrees everywhere; SLIM against the plain LoRA on the demo differs
D=models/demo
$BIN compare --model $D/base --adapter $D/slim --adapter $D/slim --prompt "12+7=" --device cpu > "$T/cmp_same.txt" 2>&1
check "compare of an adapter with itself: KL 0 at every position, no top-1 or routing difference" '[ "$(grep -c "^pos " "$T/cmp_same.txt")" -gt 2 ] && ! grep -q "differs$" "$T/cmp_same.txt" && ! grep "^pos " "$T/cmp_same.txt" | grep -qv "KL 0.000000 " && grep -q "^summary: mean KL(A||B) 0.000000 over [0-9]* positions; top-1 differs at 0 of [0-9]* positions; routing differs at 0 of " "$T/cmp_same.txt"'
printf '12+7=\n' > "$T/cmp_prompt.txt"
$BIN compare --model $D/base --adapter $D/slim --adapter $D/lora --file "$T/cmp_prompt.txt" --device cpu > "$T/cmp_sl.txt" 2>&1; rc=$?
check "compare SLIM vs plain LoRA (--file): B always on with identity share 0, identity shares differ at some blocks" '[ $rc -eq 0 ] && ! grep "^  blk " "$T/cmp_sl.txt" | grep -qv "B 0.00  kept A .* B on" && grep "^  blk .*routing differs$" "$T/cmp_sl.txt" | grep -qv "id-share A 0.00 "'
check "compare SLIM vs plain LoRA: a positive mean KL in the summary, and the positions where top-1 differs" 'grep -qE "^summary: mean KL\(A\|\|B\) 0*[1-9.][0-9.]* over [0-9]+ positions; top-1 differs at [0-9]+ of" "$T/cmp_sl.txt" && ! grep -q "^summary: mean KL(A||B) 0.000000" "$T/cmp_sl.txt" && [ "$(grep -c "top-1 differs$" "$T/cmp_sl.txt")" -eq "$(sed -n "s/^summary:.*top-1 differs at \([0-9]*\) of.*/\1/p" "$T/cmp_sl.txt")" ]'
err=$($BIN compare --model $D/base --adapter $D/slim --prompt x --device cpu 2>&1); rc=$?
check "compare with one --adapter is a one-line error, exit 2" '[ $rc -eq 2 ] && [ "$err" = "compare: --adapter is expected twice (--adapter A --adapter B)" ]'
err=$($BIN compare --model $D/base --adapter $D/slim --adapter "$T/none" --prompt x --device cpu 2>&1); rc=$?
check "compare with a missing second adapter names its file, exit 1" '[ $rc -eq 1 ] && [ "$err" = "$T/none/adapter_config.json: cannot open: No such file or directory" ]'

# bad SLIM input: one line, non-zero exit
err=$($BIN forward --model "$T/m" --adapter "$T/a" --mask-ratio 1.2 --ids 1 --dump-logits "$T/x" 2>&1); rc=$?
check "mask ratio 1.2 is a one-line error" '[ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$(printf "%s\n" "$err" | wc -l)" = 1 ] && printf "%s" "$err" | grep -q "mask-ratio"'
err=$($BIN forward --model "$T/m" --adapter "$T/a" --force 9:0 --ids 1 --dump-logits "$T/x" 2>&1); rc=$?
check "forcing a missing block is a one-line error" '[ $rc -ne 0 ] && [ $rc -lt 128 ] && printf "%s" "$err" | grep -q "block 9 does not exist"'
echo "1..$n"
