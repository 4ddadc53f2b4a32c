#!/bin/sh
# test_tui.sh: drives the real ./slimscope TUI in tmux (send-keys, capture-pane) on a random test
# model with a hand-written byte-level tokenizer. Prints TAP lines; run from the repository root.
# UPDATE_GOLDEN=1 rewrites the captures in tests/e2e/golden (their "# must:" lines are kept).
set -u
ROOT=$(pwd)
BIN=${SLIMSCOPE_BIN:-$ROOT/slimscope}  # SLIMSCOPE_BIN: another build, e.g. with sanitizers
GOLDEN=$ROOT/tests/e2e/golden
T=$(mktemp -d /tmp/slimscope-tui-XXXXXX)
SOCK="slimscope-e2e-$$"
TM="env LC_ALL=C.UTF-8 tmux -u -L $SOCK -f /dev/null"
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && printf '%s\n' "$2" | sed 's/^/#   /'; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else fail "$2" "${3:-}"; fi; }
cleanup() { $TM kill-server 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

if ! command -v tmux >/dev/null 2>&1; then echo "ok 1 - tmux not installed # SKIP"; exit 0; fi
if [ ! -x "$BIN" ]; then echo "not ok 1 - ./slimscope is not built"; exit 1; fi

# ---- a random model, two adapters, and a byte-level tokenizer (256 byte tokens, GPT-2's
# bytes-to-unicode alphabet, no merges) so that prompts can be typed
"$BIN" make-test-model --out "$T/model" --adapter-out "$T/adapter" --layers 4 --dim 64 --vocab 300 >/dev/null 2>&1 &&
"$BIN" make-test-model --out "$T/model2" --adapter-out "$T/adapter2" --layers 4 --dim 64 --vocab 300 --seed 7 >/dev/null 2>&1 &&
"$BIN" make-test-model --out "$T/big" --adapter-out "$T/bigadapter" --layers 8 --dim 256 --vocab 300 >/dev/null 2>&1 &&
"$BIN" make-test-model --out "$T/long" --adapter-out "$T/longadapter" --layers 2 --dim 32 --vocab 300 >/dev/null 2>&1
check $? "make-test-model writes the models and adapters"
awk 'BEGIN {
  n = 0
  for (b = 0; b < 256; b++) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) cp[b] = b
    else { cp[b] = 256 + n; n++ }
  }
  printf "{\"version\":\"1.0\",\"added_tokens\":[],\"normalizer\":null,"
  printf "\"pre_tokenizer\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
  printf "\"post_processor\":null,"
  printf "\"decoder\":{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
  printf "\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,\"continuing_subword_prefix\":null,"
  printf "\"end_of_word_suffix\":null,\"fuse_unk\":false,\"byte_fallback\":false,\"vocab\":{"
  for (b = 0; b < 256; b++) printf "%s\"\\u%04x\":%d", (b ? "," : ""), cp[b], b
  printf "},\"merges\":[]}}\n"
}' > "$T/model/tokenizer.json"
cp "$T/model/tokenizer.json" "$T/big/tokenizer.json"
# the same bytes plus merges that join "ab" repeats into tokens of 2, 4, ..., 64 bytes (ids 256-261),
# so a prompt of thousands of bytes is a few tokens
v='"ab":256'; mg='"a b"'; u=ab; id=256
for k in 1 2 3 4 5; do id=$((id + 1)); v="$v,\"$u$u\":$id"; mg="$mg,\"$u $u\""; u=$u$u; done
sed "s/},\"merges\":\[\]}}/,$v},\"merges\":[$mg]}}/" "$T/model/tokenizer.json" > "$T/long/tokenizer.json"
ids=$("$BIN" tokenize --model "$T/model" --text "Hi" 2>&1)
[ "$ids" = "[72,105]" ]
check $? "the hand-written tokenizer encodes bytes to their ids" "got: $ids"

# ---- helpers
cap() { $TM capture-pane -p -t tui 2>/dev/null; }
# wait_for TEXT [SECONDS]: until the pane shows TEXT (fixed string)
wait_for() {
    i=0; lim=$(( ${2:-10} * 20 ))
    while [ $i -lt $lim ]; do cap | grep -qF -- "$1" && return 0; sleep 0.05; i=$((i + 1)); done
    return 1
}
wait_gone() {
    i=0; lim=$(( ${2:-10} * 20 ))
    while [ $i -lt $lim ]; do cap | grep -qF -- "$1" || return 0; sleep 0.05; i=$((i + 1)); done
    return 1
}
wait_file() { i=0; while [ $i -lt 200 ] && [ ! -s "$1" ]; do sleep 0.05; i=$((i + 1)); done; [ -s "$1" ]; }
keys() { $TM send-keys -t tui "$@"; }
slim_pid() { pgrep -P "$($TM display -p -t tui "#{pane_pid}")" 2>/dev/null | head -1; }
# the terminal settings that matter, one per line (rows/columns left out: the tests resize)
stty_flags() { grep -v -e rows -e columns "$1" | tr ' ;' '\n\n' | grep -E '^-?[a-z0-9]+$' | sort; }
# start NAME [ENV...]: runs the TUI on $MODEL/$ADAPTER in a fresh tmux session; the pane's shell
# records the terminal settings before and after, and the exit status
MODEL=$T/model
ADAPTER=$T/adapter
start() {
    name=$1; shift
    $TM kill-session -t tui 2>/dev/null
    rm -f "$T/$name.before" "$T/$name.after" "$T/$name.rc"
    cat > "$T/$name.sh" <<EOF
ulimit -c 0
stty -a > "$T/$name.before"
env LANG=C.UTF-8 LC_ALL=C.UTF-8 XDG_STATE_HOME="$T/state" $* "$BIN" --model "$MODEL" --adapter "$ADAPTER" --ctx 512
echo \$? > "$T/$name.rc"
stty -a > "$T/$name.after"
sleep 600
EOF
    $TM new-session -d -s tui -x 120 -y 36 "sh $T/$name.sh"
    wait_for "Type a prompt" 15
}
# sane NAME: the exit status is $2 and the terminal settings afterwards equal those before
sane() {
    wait_file "$T/$1.after"
    rc=$(cat "$T/$1.rc" 2>/dev/null)
    [ "$rc" = "$2" ]
    check $? "$3: exit status $2" "got: $rc"
    d=$(diff "$T/$1.before" "$T/$1.after" 2>&1 | grep -v -e '^[0-9]' -e '^---' | grep -v 'rows [0-9]*; columns [0-9]*')
    [ -s "$T/$1.after" ] && [ -z "$d" ]
    check $? "$3: stty -a after equals before" "$d"
    for f in icanon echo icrnl opost isig; do
        stty_flags "$T/$1.after" | grep -qx "$f" || { fail "$3: $f is set after exit" "$(cat "$T/$1.after")"; return; }
    done
    ok "$3: icanon echo icrnl opost isig set after exit"
}
# golden NAME: the capture contains every "# must:" string of golden/NAME.txt
golden() {
    g=$GOLDEN/$1.txt
    cap > "$T/$1.cap"
    if [ "${UPDATE_GOLDEN:-0}" = 1 ] || [ ! -f "$g" ]; then
        mkdir -p "$GOLDEN"
        { grep '^# ' "$g" 2>/dev/null; echo '---'; cat "$T/$1.cap"; } > "$T/$1.new"
        mv "$T/$1.new" "$g"
    fi
    missing=""
    grep '^# must: ' "$g" | sed 's/^# must: //' > "$T/$1.must"
    while IFS= read -r m; do grep -qF -- "$m" "$T/$1.cap" || missing="$missing[$m] "; done < "$T/$1.must"
    [ -s "$T/$1.must" ] && [ -z "$missing" ]
    check $? "layout $1 matches golden/$1.txt loosely" "missing: $missing
$(cat "$T/$1.cap")"
}
# the router panel's grid rows (right of the rule, rows 2..7)
router_rows() { cap | sed -n '2,8p' | sed 's/^.*│  *[0-9] //'; }

# ---- run 0: on a larger model (8 blocks, dim 256) so that generating takes a while: tokens
# stream in, keys are handled meanwhile, Esc stops
MODEL=$T/big ADAPTER=$T/bigadapter
start run0
check $? "the TUI starts on the larger model" "$(cap)"
$TM resize-window -t tui -x 200 -y 40  # room in the status bar for every field
keys ':n 480' Enter
wait_for "480 tokens per prompt" 5
check $? ":n 480 is acknowledged"
cap | grep -qF "│ mask seed 0 │ temp 0 top-p 1 sampling seed 0 │ n 480 │"
check $? "the status bar shows the temperature, top-p, n and both seeds, labelled" "$(cap | tail -1)"
keys 'Hello world' Enter
# streaming: the output panel shows the context growing before it reaches 11 + 480 tokens
# (a deadline, not a count of polls: on a loaded machine the 480 tokens take longer)
seen=""
end=$(($(date +%s) + 60))
while [ "$(date +%s)" -lt $end ]; do
    c=$(cap | sed -n '1s/.*pos [0-9]*\/\([0-9]*\).*/\1/p')
    case " $seen " in *" $c "*) ;; *) [ -n "$c" ] && seen="$seen $c" ;; esac
    [ "$c" = 491 ] && break
    sleep 0.01
done
mid=$(echo $seen | tr ' ' '\n' | awk '$1 > 11 && $1 < 491' | wc -l)
[ "$c" = 491 ] && [ "$mid" -ge 1 ]
check $? "tokens stream into the output panel (11 prompt + 480 generated; counts seen:$seen)"
wait_gone "(Esc stops)" 20
# keys during a generation: Tab moves the focus while tokens are still coming, and the status bar
# reports the key-to-screen time of the main loop
keys ':reset' Enter
wait_for "context cleared" 5
keys 'Again' Enter
wait_for "(Esc stops)" 5
keys Tab  # Enter moved the focus to the output panel: Tab goes on to the router
wait_for "▶ Router" 2
r=$?
busy=$(cap | grep -c "(Esc stops)")
ms=$(cap | grep -o 'key [0-9]* ms' | grep -o '[0-9]*')
[ $r -eq 0 ] && [ "$busy" -ge 1 ] && [ -n "$ms" ] && [ "$ms" -lt 50 ]
check $? "a key is handled while generating (focus moved, still generating, key time ${ms:-?} ms < 50)"
wait_gone "(Esc stops)" 20
keys i
# Esc stops a long generation: tokens stop short of the 480 asked for
keys ':reset' Enter
wait_for "context cleared" 5
keys 'Stop me' Enter Escape
wait_for "stopped" 5
check $? "Esc stops a running generation"
c=$(cap | sed -n '1s/.*pos [0-9]*\/\([0-9]*\).*/\1/p')
[ -n "$c" ] && [ "$c" -lt 487 ]
check $? "the stopped generation is shorter than asked (context $c < 7 + 480)"
keys Escape; sleep 0.1; keys q
sane run0 0 "quit with q after generating"

# ---- run 1: prompt, cursor, p, mode, layouts, commands, quit with q
MODEL=$T/model ADAPTER=$T/adapter
start run1
check $? "the TUI starts in a 120x36 terminal" "$(cap)"
golden empty_120x36
keys ':n 12' Enter
wait_for "12 tokens per prompt" 5
keys 'Hello world' Enter
wait_for "pos 22/23" 10
check $? "a prompt of 11 bytes plus 12 generated tokens fills 23 positions" "$(cap | head -3)"
wait_gone "(Esc stops)" 10
sleep 0.3
golden full_120x36
# the cursor: Esc leaves the prompt, Left moves the token every panel describes
r_before=$(router_rows)
keys Escape; sleep 0.1; keys Left Left Left
wait_for "pos 19/23" 5 && cap | grep -qF "Router  pos 19"
check $? "Left moves the token cursor; output and router describe position 19" "$(cap | head -3)"
sleep 0.3
r_after=$(router_rows)
[ -n "$r_after" ] && [ "$r_before" != "$r_after" ]
check $? "the router heat map changes with the selected token" "before:
$r_before
after:
$r_after"
cap | grep -qF "Selection" && cap | grep -qE "pos 19 '.*' blk 0:"
check $? "the selection map's footer follows the cursor"
# p: ] raises it by 0.05, the masking panel shows p, KL and the top-5 at the new p
kl0=$(cap | grep -o 'KL(p=0‖p) [0-9.]*' | head -1)
keys ']'
wait_for "Masking  p 0.05" 5 && wait_for "p=0.05" 5 && wait_gone "computing…" 10
check $? "] sets p = 0.05 in the masking panel" "$(cap)"
kl1=$(cap | grep -o 'KL(p=0‖p) [0-9.]*' | head -1)
[ "$kl0" = "KL(p=0‖p) 0.0000" ] && [ -n "$kl1" ] && [ "$kl1" != "$kl0" ]
check $? "KL(p=0||p) is 0 at p = 0 and changes at p = 0.05 ($kl0 -> $kl1)"
cap | grep -qF "│ p 0.05 │"
check $? "the status bar shows p 0.05"
# the text was generated at p 0: the panels follow p, the text does not, and says so
wait_for "generated at p 0.00 (g or Enter regenerates)" 5
check $? "after ] the generated text is marked stale (generated at p 0.00)" "$(cap | head -20)"
keys '}' '}'
wait_for "Masking  p 0.07" 5
check $? "} twice: p = 0.07"
keys '{' '{' '['
wait_for "Masking  p 0.00" 5
check $? "{ { [ bring p back to 0"
top5_p0=$(cap | grep -A1 '^base' | tail -1)
keys ']' ']'
wait_for "p=0.10" 5 && wait_gone "computing…" 10
top5_p=$(cap | grep -A1 '^base' | tail -1)
[ -n "$top5_p" ] && [ "$top5_p" != "$top5_p0" ]
check $? "the top-5 next tokens update with p" "$top5_p0 -> $top5_p"
wait_for "top-1" 10 && wait_gone "/10" 20
check $? "the KL / top-1 agreement chart over p = 0..0.9 completes in the background"
keys s
wait_for "mask seed 1" 5
check $? "s draws a new mask seed"
# g: regenerate at p and compare with the p = 0 continuation
keys g
wait_for "g: p 0.10 " 10
check $? "g regenerates at the current p and reports the comparison with p = 0" "$(cap | grep 'g:')"
wait_gone "(Esc stops)" 10
wait_gone "generated at p" 5
check $? "the regenerated text is no longer marked stale" "$(cap | head -20)"
# interventions: one expert numbering everywhere (LoRA 0..7, identity i0 i1): :force 2 5 is LoRA
# expert 5 in the message, the router (F5, the kept mark under the header's 5) and the selection map
keys i ':force 2 5' Enter
wait_for "block 2: LoRA expert 5 forced" 5 && wait_for "F5" 5
check $? ":force 2 5 is acknowledged as LoRA expert 5 and marked F5 in the router" "$(cap | head -9)"
# router_forced: block 2's row (capture line 5) right of the rule, shades as x: only the sixth
# LoRA cell kept, identity share 0, F5 (polled: the context is recomputed in the background)
router_forced() {
    row=$(cap | sed -n 5p | sed 's/.*│//' | sed 's/[░▒▓█·]/x/g')
    printf '%s\n' "$row" | grep -qE '^(xx ){5}xx\*(xx ){2} +0% +F5' && [ "$(printf '%s' "$row" | tr -cd '*' | wc -c)" = 1 ]
}
i=0; while [ $i -lt 200 ] && ! router_forced; do sleep 0.05; i=$((i + 1)); done
router_forced
check $? "the router's block 2 keeps only the sixth LoRA column, headed 5" "row: $row
$(cap | sed -n 2,8p)"
sel=$(cap | grep -E '^  2 [0-9a-z·]' | head -1)
printf '%s\n' "$sel" | grep -qE '^  2 5{23} '
check $? "the selection map shows LoRA expert 5 at block 2 for every token" "$sel"
keys ':force 1 i2' Enter
wait_for "expert must be LoRA 0..7 or identity i0..i1, got 'i2'" 5
check $? ":force with an expert that does not exist names the experts there are"
keys ':unforce' Enter
wait_for "every block routed normally" 5
check $? ":unforce"
keys ':force 9 0' Enter
wait_for "block must be in 0..3" 5
check $? ":force with a block out of range is an error on the message line, not fatal"
keys ':mode off' Enter
wait_for "id-share 100%" 10 && wait_for "mode off" 5
check $? ":mode off shows identity share 100%" "$(cap | head -2)"
wait_for "generated at p 0.10, mode slim (g or Enter regenerates)" 5
check $? ":mode off marks the text generated in slim mode stale" "$(cap | head -20)"
keys ':mode slim' Enter
wait_for "mode slim" 5 && wait_gone "generated at p" 5
check $? "back in slim mode the text is current again"
# :save writes the trace: one JSON object per position and block
keys ":save $T/trace.jsonl" Enter
wait_for "saved the trace of 23 positions" 5
lines=$(wc -l < "$T/trace.jsonl" 2>/dev/null)
[ "$lines" = 93 ] && sed -n 2p "$T/trace.jsonl" | grep -q '"pos":0,"token":72,"source":"prompt"'
check $? ":save writes a settings line and 23 positions x 4 blocks = 93 JSONL lines (got $lines)"
# the settings as they are now (p 0.10 from ] ], mask seed 1 from s, :n 12), each position marked:
# 11 prompt bytes and 12 generated tokens, 4 blocks each
head -1 "$T/trace.jsonl" | grep -q "^{\"settings\":{\"slimscope\":\"[0-9.]*\",\"command\":\"tui\",\"model\":\"$T/model\",\"adapter\":\"$T/adapter\",\"adapter_type\":\"slim\",\"mask_ratio\":0.1,\"mask_seed\":1,\"mask_refresh\":\"[a-z_]*\",\"adapter_mode\":\"slim\",\"force\":\[\],\"adapter_layers\":null,\"temp\":0,\"top_p\":1,\"seed\":0,\"n\":12,\"ctx\":512," &&
[ "$(grep -c '"source":"prompt"' "$T/trace.jsonl")" = 44 ] && [ "$(grep -c '"source":"generated"' "$T/trace.jsonl")" = 48 ]
check $? ":save's first line holds the settings; 11 x 4 lines are prompt, 12 x 4 generated" "$(head -1 "$T/trace.jsonl")"
keys ":save $T/no/such/dir/t.jsonl" Enter
wait_for "$T/no/such/dir/t.jsonl: cannot create" 5 && ! cap | grep -qF ".tmp."
check $? ":save into a missing directory names the file given, not the temporary one" "$(cap | tail -2)"
keys ':load /nonexistent/adapter' Enter
wait_for "/nonexistent/adapter" 5
check $? ":load of a missing directory reports the error and keeps the session"
keys ":load $T/adapter2" Enter
wait_for "loaded $T/adapter2" 10 && wait_for "adapter adapter2" 5
check $? ":load swaps the adapter without restarting"
wait_for "generated at p 0.10, adapter adapter (g or Enter regenerates)" 5
check $? "after :load the text generated with the old adapter is marked stale" "$(cap | head -20)"
keys Enter
wait_gone "generated at p" 15 && wait_gone "(Esc stops)" 15
check $? "Enter on the empty prompt regenerates the stale text" "$(cap | head -20)"
keys ':bogus' Enter
wait_for "unknown command ':bogus'" 5
check $? "an unknown command is reported"
# help overlay
keys Escape; sleep 0.1; keys '?'
wait_for "keys and commands" 5 && cap | grep -qF "new mask seed"
check $? "? opens the help overlay listing the keys" "$(cap)"
keys NPage NPage NPage NPage
wait_for ":force L E" 5
check $? "the help overlay scrolls to the :commands" "$(cap)"
keys x
wait_gone "keys and commands" 5
check $? "any key closes the help overlay"
# Tab moves the focus (the focused panel's title starts with ▶)
keys Tab
wait_for "▶ Router" 5
check $? "Tab moves the focus to the next panel"
keys Down
sleep 0.2
cap | grep -qE "blk 1 (id|LoRA)"
check $? "Down selects the next block in the focused router panel"
# history and Ctrl-R
hist=$(cat "$T/state/slimscope/history" 2>/dev/null)
echo "$hist" | grep -qx "Hello world" && echo "$hist" | grep -qx ":mode off"
check $? "history is saved to \$XDG_STATE_HOME/slimscope/history" "$hist"
keys i C-r 'Hel'
wait_for "reverse-i-search" 5 && wait_for "Hello world" 2
check $? "Ctrl-R searches the history" "$(cap | tail -3)"
keys C-g C-u
# layouts: compact, wide, tiny; resize never crashes
$TM resize-window -t tui -x 60 -y 20
wait_for "slimscope>" 5 && sleep 0.3
golden compact_60x20
$TM resize-window -t tui -x 200 -y 60
sleep 0.5
golden wide_200x60
$TM resize-window -t tui -x 30 -y 8
sleep 0.5
golden tiny_30x8
$TM resize-window -t tui -x 120 -y 36
wait_for "Masking" 5
check $? "back to 120x36 after the resizes, the full layout returns"
[ -n "$(slim_pid)" ]
check $? "the TUI is still running after the resizes"
keys Escape; sleep 0.1; keys q
sane run1 0 "quit with q"

# ---- run 1b: after Enter submits a prompt the focus is on the panels: the inspection keys act at
# once (not typed into the prompt), i returns to typing, q quits
start run1b
cap | grep -qF "Enter moves the focus to the panels"
check $? "the start screen says where the focus goes after Enter" "$(cap | head -5)"
keys ':n 4' Enter
wait_for "4 tokens per prompt" 5
keys 'Hi' Enter
wait_for "▶ Output" 5 && wait_for "pos 5/6" 10 && wait_gone "(Esc stops)" 10
check $? "Enter on a prompt moves the focus to the output panel" "$(cap | head -2)"
keys ']'
wait_for "│ p 0.05 │" 5 && ! cap | grep -q 'slimscope> .*\]'
check $? "right after the prompt, ] raises p to 0.05 (not typed into the line)" "$(cap | tail -3)"
keys i 'ab'
wait_for "slimscope> ab" 5
check $? "i returns to the prompt for typing" "$(cap | tail -2)"
keys C-u Tab
wait_for "▶ Output" 2
keys /
sleep 0.2
keys 'cd'
wait_for "slimscope> cd" 5
check $? "/ returns to the prompt for typing" "$(cap | tail -2)"
# a new prompt starts a new sequence (2 + 4 positions were there; 3 + 4 now), shown in the status bar
keys C-u 'Yo!' Enter
wait_for "pos 6/7" 10 && wait_gone "(Esc stops)" 10 && cap | grep -qF "prompt new sequence"
check $? "a new prompt starts a new sequence: 3 + 4 positions, not 6 + 7" "$(cap | head -2; cap | tail -1)"
keys i '+ab' Enter
wait_for "pos 12/13" 10 && wait_gone "(Esc stops)" 10 && cap | grep -qF "Yo!"
check $? "a leading + continues the context: 7 + 2 + 4 positions" "$(cap | head -3)"
keys i ':append on' Enter
wait_for "prompt appends" 5
check $? ":append on is shown in the status bar" "$(cap | tail -2)"
keys 'cd' Enter
wait_for "pos 18/19" 10 && wait_gone "(Esc stops)" 10
check $? "with :append on a prompt continues the context: 13 + 2 + 4 positions" "$(cap | head -2)"
# a prompt longer than the context (600 byte tokens, 512 positions) is refused with its size and
# the context stays; a length past the context for :n is accepted with a note
keys i ':append off' Enter
keys -l "$(printf '%600s' '' | tr ' ' 'x')"
keys Enter
wait_for "prompt is 600 tokens; the context holds 512" 10 && cap | grep -qF "pos 18/19"
check $? "a 600-token prompt in a 512-position context is refused with its size" "$(cap | head -2; cap | tail -2)"
keys i ':n 100000' Enter
wait_for "100000 tokens per prompt; generation stops at the context's 512 positions" 5
check $? ":n 100000 with a 512 context is accepted with a note that generation stops there" "$(cap | tail -2)"
keys Escape; sleep 0.1; keys q
sane run1b 0 "q right after a prompt quits"

# ---- run 1d: a prompt of 4500 bytes is read whole (no fixed limit below the context: the job text
# was 4096 bytes). "ab" x 2250 is 70 tokens of 64 bytes, one of 16 and one of 4: 72 tokens
MODEL=$T/long ADAPTER=$T/longadapter
long=$(printf '%2250s' '' | sed 's/ /ab/g')
ntok=$("$BIN" tokenize --model "$T/long" --text "$long" 2>&1 | tr ',' '\n' | grep -c '[0-9]')
[ ${#long} = 4500 ] && [ "$ntok" = 72 ]
check $? "the merges tokenizer makes 4500 bytes of ab into 72 tokens (got $ntok)"
start run1d
keys ':n 2' Enter
wait_for "2 tokens per prompt" 5
keys -l "$long"
keys Enter
wait_for "pos 73/74" 10 && wait_gone "(Esc stops)" 10
check $? "a 4500-byte prompt is read whole: 72 + 2 positions" "$(cap | head -2; cap | tail -2)"
keys q
sane run1d 0 "quit after the long prompt"

# ---- run 1c: the shipped demo's plain LoRA adapter is an always-on expert, not a bypass
MODEL=$ROOT/models/demo/base ADAPTER=$ROOT/models/demo/lora
start run1c
keys ':n 4' Enter
wait_for "4 tokens per prompt" 5
keys 'add 12 and 30' Enter
wait_gone "(Esc stops)" 10 && wait_for "id-share 0%" 10 && wait_for "plain LoRA: always on (scale" 5
check $? "a plain LoRA shows identity share 0% and 'always on' in the router" "$(cap)"
! cap | grep -qF "adapter off at this block"
check $? "a plain LoRA is never shown as off at a block" "$(cap)"
keys q
sane run1c 0 "quit the demo LoRA session"

# ---- run 1e: :compare: the demo's SLIM adapter against its plain LoRA, then against itself
MODEL=$ROOT/models/demo/base ADAPTER=$ROOT/models/demo/slim
start run1e
keys ':n 4' Enter
wait_for "4 tokens per prompt" 5
keys 'add 12 and 30' Enter
wait_gone "(Esc stops)" 10
keys ":compare $ROOT/models/demo/lora" Enter
wait_for "comparing with" 10 && wait_for "KL(A‖B)" 20
check $? ":compare DIR: the Compare panel shows the cursor's KL(A‖B) and top-1 of each" "$(cap)"
rows=$(cap | grep -E "│ +[0-5] id [0-9.]+│")
[ "$(printf '%s\n' "$rows" | grep -c "│0.00 ")" = 6 ] && [ "$(printf '%s\n' "$rows" | grep -cE "│on( +≠)? *$")" = 6 ] && ! cap | grep -q "Lens  "
check $? ":compare: every block, the LoRA always on with identity share 0, in the Lens's place" "$(cap)"
cap | grep -qE "Compare .*top-1 ≠ [1-9][0-9]*/[0-9]+"
check $? ":compare slim vs lora: the title counts the positions where top-1 differs" "$(cap)"
keys Home Right
wait_for "pos 1 KL(A‖B)" 10
cap | grep -E "│ +[0-5] id " | grep -v "id 0.00│" | grep -q "≠$"
check $? ":compare at pos 1: a block where SLIM's identity share is not 0 is marked as routed otherwise" "$(cap)"
before=$(cap | grep -o "pos [0-9]* KL(A‖B)")
keys Right
wait_gone "$before" 5 && wait_for "KL(A‖B)" 10
check $? ":compare follows the cursor (was '$before')" "$(cap)"
keys ":compare $ROOT/models/demo/slim" Enter
wait_for "top-1 ≠ 0/" 20 && wait_for "KL(A‖B) 0.0000" 10 && ! cap | grep -E "│ +[0-5] id " | grep -q "≠"
check $? ":compare with the same adapter: KL 0, no top-1 or routing difference" "$(cap)"
keys ':compare off' Enter
wait_for "compare off" 5 && wait_for "Lens  " 10 && ! cap | grep -q "KL(A‖B)"
check $? ":compare off gives the Lens back" "$(cap)"
keys Escape
sleep 0.2
keys q
sane run1e 0 "quit the compare session"

# ---- run 1d: the demo's SLIM adapter (6 blocks, 1 identity + 1 LoRA expert) at 80x24, 120x36
# and 200x60: every block in every per-block panel, titles whole, tok/s in the status bar
# blocks_shown SIZE: rows "  L " of blocks 0..5 in the selection map (left) and in the router,
# distance and lens panels (right of the column rule)
blocks_shown() {
    c=$(cap); missing=""
    for l in 0 1 2 3 4 5; do
        printf '%s\n' "$c" | grep -q "^  $l [0-9a-z· ]" || missing="$missing selection:$l"
        [ "$(printf '%s\n' "$c" | grep -c "│  $l ")" -ge 3 ] || missing="$missing right:$l"
    done
    [ -z "$missing" ]
    check $? "$1: every block of the demo in the selection map, router, distance and lens panels" "missing:$missing
$c"
}
ADAPTER=$ROOT/models/demo/slim
start run1d
keys ':n 40' Enter
wait_for "40 tokens per prompt" 5
keys 'the date 2021-03-07 ->' Enter
wait_for "Output  pos" 20 && wait_gone "(Esc stops)" 30 && wait_for "on/off differ at" 20 && wait_gone "computing" 30
blocks_shown 120x36
cap | grep -qF "Distance  d -1.." && cap | grep -qF "on/off differ at" && cap | grep -qF "next after pos"
check $? "120x36: the titles and the KL line fit whole" "$(cap)"
golden demo_120x36
$TM resize-window -t tui -x 80 -y 24
wait_for "on │ off, " 5 && wait_gone "computing" 20
blocks_shown 80x24
cap | grep -qF "tok/s" && cap | grep -qF "Router  pos"
check $? "80x24: the status bar keeps tok/s; the router's title is there" "$(cap)"
golden demo_80x24
$TM resize-window -t tui -x 200 -y 60
wait_for "context mean over p" 5 && wait_gone "computing" 20
blocks_shown 200x60
golden demo_200x60
keys q
sane run1d 0 "quit the demo SLIM session"
MODEL=$T/model ADAPTER=$T/adapter

# ---- run 2: UTF-8 text; SIGTERM restores the terminal
start run2
keys ':n 0' Enter
wait_for "0 tokens per prompt" 5
keys 'héllo → 日本' Enter
wait_for "héllo → 日本" 5
check $? "a UTF-8 prompt is shown as typed (accents, arrows, double-width characters)" "$(cap | head -3)"
wait_for "pos 16/17 '\xAC'" 5
check $? "17 byte tokens; the last one, half of 本, is labelled by its byte" "$(cap | head -1)"
keys Escape; sleep 0.1; keys Left Left
wait_for "pos 14/17 '\xE6'" 5
check $? "the cursor on the first byte of 本 shows that byte" "$(cap | head -2)"
keys ':n 480' Enter 'more' Enter
wait_for "(Esc stops)" 5
pid=$(slim_pid)
[ -n "$pid" ] && kill -TERM "$pid"
sane run2 143 "SIGTERM while generating"

# ---- run 3: Ctrl-C twice quits; run 4: Ctrl-D on an empty prompt quits; run 5: a crash
start run3
keys C-c
wait_for "Ctrl-C again quits" 5
check $? "the first Ctrl-C asks for a second"
keys C-c
sane run3 0 "Ctrl-C twice"
start run3b
pid=$(slim_pid)
[ -n "$pid" ] && kill -INT "$pid"
wait_for "Ctrl-C again quits" 5
check $? "SIGINT from outside counts as a Ctrl-C"
kill -INT "$pid"
sane run3b 0 "SIGINT twice"
start run4
keys 'abc' C-d
sleep 0.3
[ -z "$(cat "$T/run4.rc" 2>/dev/null)" ]
check $? "Ctrl-D on a non-empty line does not quit"
keys C-u C-d
sane run4 0 "Ctrl-D on an empty prompt"
start run5
pid=$(slim_pid)
[ -n "$pid" ] && kill -SEGV "$pid"
sane run5 139 "SIGSEGV (crash path)"

# ---- the terminal goes away under a parent that keeps the SIGHUP (as `make run` does): the TUI
# must notice the hung-up stdin and exit instead of spinning
printf 'tui:\n\t%s --model %s --adapter %s\n' "$BIN" "$T/model" "$T/adapter" > "$T/hup.mk"
$TM new-session -d -s hup -x 100 -y 30 "make -s -f $T/hup.mk tui"
i=0; hpid=
while [ -z "$hpid" ] && [ $i -lt 100 ]; do
    hpid=$(pgrep -P "$($TM display -p -t hup "#{pane_pid}" 2>/dev/null)" 2>/dev/null | head -1); sleep 0.05; i=$((i + 1))
done
sleep 1
$TM kill-session -t hup
i=0
while [ -n "$hpid" ] && kill -0 "$hpid" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.05; i=$((i + 1)); done
[ -n "$hpid" ] && ! kill -0 "$hpid" 2>/dev/null
check $? "the TUI under make exits within 3 s when its terminal is closed" "pid ${hpid:-none}"
[ -n "$hpid" ] && kill -9 "$hpid" 2>/dev/null

# ---- colours: 256 by default under tmux-256color, 8 with TERM=xterm, none with NO_COLOR
start run6
$TM capture-pane -e -p -t tui | grep -q '38;5;'
check $? "256 colours under tmux-256color"
keys C-d
wait_file "$T/run6.after"
start run7 TERM=xterm
esc=$($TM capture-pane -e -p -t tui)
echo "$esc" | grep -q '38;5;' ; a=$?
echo "$esc" | grep -qE '\[([0-9;]*;)?3[0-7]m' ; b=$?
[ $a -ne 0 ] && [ $b -eq 0 ]
check $? "8-colour fallback with TERM=xterm"
keys C-d
wait_file "$T/run7.after"
start run8 NO_COLOR=1
esc=$($TM capture-pane -e -p -t tui)
echo "$esc" | grep -qE '\[([0-9;]*;)?(3[0-7]|4[0-7]|9[0-7]|10[0-7]|38;5;[0-9]+|48;5;[0-9]+)m'
[ $? -ne 0 ]
check $? "NO_COLOR: no colour escapes"
keys C-d
wait_file "$T/run8.after"

# an error before the screen is taken: a plain message, a non-zero status, the terminal untouched
out=$("$BIN" --model "$T/model" --adapter "$T/nonexistent" 2>&1 </dev/null)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "nonexistent"
check $? "a bad --adapter is reported before the TUI starts (status $rc)" "$out"
out=$("$BIN" --model "$T/model" 2>&1 </dev/null)
rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "needs a terminal"
check $? "without a terminal the TUI says so and exits 1" "$out"

echo "1..$n"
echo "$((n - failed)) passed, $failed failed"
[ $failed -eq 0 ]
