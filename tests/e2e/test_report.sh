#!/bin/sh
# test_report.sh: `slimscope report` through the real binary. A trace of the shipped demo (base +
# SLIM adapter, a prompt with HTML's special characters) is rendered and the page is checked
# against the trace by python3: one heat-map cell per token and block in each map, the token text
# escaped and read back unchanged, each cell's kept experts, identity wins exactly where the
# router's top-1 is an identity expert, the settings line, nothing fetched from outside. Bad
# traces give one line naming file, line and field, exit 1. With chromium installed (Debian
# package `chromium`), the page is rendered headless: the DOM holds the SVG, the screenshot is
# not blank. Prints TAP lines.
BIN=${SLIMSCOPE_BIN:-./slimscope}
T=$(mktemp -d "${TMPDIR:-/tmp}/slimscope-report-XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); echo "not ok $n - $1"; shift; for l in "$@"; do echo "# $l"; done; }
check() { if eval "$2"; then ok "$1"; else no "$1" "$(cat "$T/why" 2>/dev/null)"; fi; rm -f "$T/why"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

[ -x "$BIN" ] || { no "binary $BIN exists"; exit 1; }
if [ ! -f models/demo/base/config.json ] || [ ! -f models/demo/slim/adapter_config.json ]; then
    skip "report of a demo trace" "models/demo is not built (make demo)"; exit 0
fi
M="--model models/demo/base --device cpu --threads 2"
$BIN trace $M --adapter models/demo/slim --mask-ratio 0.3 --prompt '<b>"date" & 2021-03-07</b> ->' -n 8 \
    --out "$T/t.jsonl" 2>"$T/err" || { no "demo trace" "$(cat "$T/err")"; exit 1; }
$BIN report "$T/t.jsonl" --out "$T/r.html" 2>"$T/err"
check "report exits 0 and says what it wrote" '[ $? -eq 0 ] && grep -q "^wrote the report of [0-9]* positions x 6 blocks to $T/r.html$" "$T/err"'
check "report leaves no temporary file" '[ -z "$(ls "$T" | grep tmp)" ]'

# the page against the trace, parsed independently
cat >"$T/check.py" <<'EOF'
import json, re, sys, html.parser
trace, page, what = sys.argv[1], open(sys.argv[2], encoding="utf-8").read(), sys.argv[4]
if what != "sweep":
    lines = [json.loads(l) for l in open(trace, encoding="utf-8")]
    settings, rows = lines[0]["settings"], lines[1:]
    P = max(r["pos"] for r in rows) + 1; L = max(r["layer"] for r in rows) + 1
N_ID = json.load(open("models/demo/slim/adapter_config.json"))["num_identity_experts"]
def fail(msg): print(msg, file=open(sys.argv[3], "w")); sys.exit(1)
class Page(html.parser.HTMLParser):
    def __init__(s):
        super().__init__(); s.cells = {"share": [], "kept": []}; s.toks = []; s.pts = []; s.stack = []; s.text = ""
    def handle_starttag(s, tag, a):
        a = dict(a); s.stack.append((tag, a)); s.text = ""
    def handle_endtag(s, tag):
        t, a = s.stack.pop()
        c = a.get("class", "")
        if t == "text" and c.startswith("tok"): s.toks.append(s.text)
        if t == "title" and s.stack:
            pt, pa = s.stack[-1]
            pc = pa.get("class", "")
            if pc.startswith("cell "): s.cells[pc[5:]].append(s.text)
            if pc.startswith("d-pt"): s.pts.append((pc, s.text))
    def handle_data(s, d): s.text += d
p = Page(); p.feed(page)
if what == "cells":
    for k in ("share", "kept"):
        if len(p.cells[k]) != P * L: fail(f"{k}: {len(p.cells[k])} cells, expected {P} x {L}")
elif what == "text":
    want = [r["text"] for r in rows if r["layer"] == 0]
    shown = [re.sub("[\x00-\x1f\x7f]", "\ufffd", t.replace("\n", "\u21b5")) for t in want]
    if p.toks != shown * 2: fail(f"token labels {p.toks!r}, expected {shown!r} over each map")
    if not any(c in "".join(want) for c in "<>&\""): fail("the prompt's special characters are not in any token")
elif what == "kept":
    for i, r in enumerate(rows):
        title = p.cells["kept"][r["pos"] * L + r["layer"]]
        names = [(f"i{e}" if e < N_ID else str(e - N_ID), w) for e, w in enumerate(r["w"]) if w != 0]
        want = "kept " + ", ".join(f"{n} {w:.2f}" for n, w in names)
        if want not in title: fail(f"pos {r['pos']} block {r['layer']}: {title!r} lacks {want!r}")
elif what == "wins":
    by = {(r["pos"], r["layer"]): r for r in rows}
    if len(p.pts) != P * L: fail(f"{len(p.pts)} distance points, expected {P * L}")
    checked = 0
    for cls, title in p.pts:
        pos, blk = map(int, re.match(r"pos (\d+) block (\d+)", title).groups())
        zy = by[(pos, blk)]["z_yield"]
        ident, lora = max(zy[:N_ID]), max(zy[N_ID:])
        if abs(ident - lora) < 1e-3: continue  # a near tie: the printed digits cannot tell
        checked += 1
        if ("id-wins" in cls) != (ident >= lora): fail(f"pos {pos} block {blk}: {cls}, z_yield {zy}")
    if checked < P * L // 2: fail(f"only {checked} points checked")
elif what == "sweep":  # argv[1] is the sweep's CSV here
    import csv, struct
    f32 = lambda x: struct.unpack("f", struct.pack("f", float(x)))[0]
    rows = list(csv.DictReader(open(trace)))
    pts = page.count('class="kl-pt"')
    if pts != len(rows) or len(rows) != 6: fail(f"{pts} KL points for {len(rows)} rows")
    for r in rows:
        want = f"p {f32(r['ratio']):g}: KL(p=0 \u2016 p) {f32(r['kl_p0_p']):.4g}, KL(base \u2016 p) {f32(r['kl_base_p']):.4g}"
        if want not in page: fail(f"no point titled {want!r}")
    if "holds no KL vs p" in page: fail("the page still says it has no KL vs p")
elif what == "settings":
    for k in ("adapter", "mask_ratio", "mask_seed", "adapter_mode", "slimscope"):
        want = f"{k} {settings[k]}"
        if want not in page: fail(f"settings text {want!r} not in the page")
    if "(p = 0.3 here)" not in page: fail("the KL vs p section does not name the trace's p")
EOF
for what in cells text kept wins settings; do
    check "page vs trace: $what" 'python3 "$T/check.py" "$T/t.jsonl" "$T/r.html" "$T/why" $what'
done
# KL vs p from slimscope sweep on the same prompt
$BIN sweep $M --adapter models/demo/slim --prompt '<b>"date" & 2021-03-07</b> ->' --ratios 0,0.3,0.6 --seeds 2 \
    >"$T/sweep.csv" 2>/dev/null
$BIN report "$T/t.jsonl" --sweep "$T/sweep.csv" --out "$T/rs.html" 2>/dev/null
check "--sweep: one KL point per sweep row, titled with its values" 'python3 "$T/check.py" "$T/sweep.csv" "$T/rs.html" "$T/why" sweep'
check "no http:// or https:// reference, no script" '! grep -Eiq "https?://|<script" "$T/r.html" "$T/rs.html"'
$BIN report "$T/t.jsonl" --out - >"$T/stdout.html" 2>/dev/null
check "--out - writes the same page to standard output" 'cmp -s "$T/r.html" "$T/stdout.html"'
$BIN report - --out "$T/stdin.html" <"$T/t.jsonl" 2>/dev/null
check "trace - reads standard input" 'cmp -s "$T/r.html" "$T/stdin.html"'

# lora-only mode: no yield, the identity experts dropped (named by the pi they lack in older traces)
$BIN trace $M --adapter models/demo/slim --adapter-mode lora-only --prompt "Q: 12+34= A:" -n 3 --out "$T/lo.jsonl" 2>/dev/null
$BIN report "$T/lo.jsonl" --out "$T/lo.html" 2>/dev/null
check "lora-only trace: kept experts named as LoRA experts, no identity threshold at any block" 'python3 "$T/check.py" "$T/lo.jsonl" "$T/lo.html" "$T/why" kept && [ "$(grep -c "no identity threshold" "$T/lo.html")" = 6 ]'

# a plain LoRA trace: no router anywhere, the maps still have every cell
$BIN trace $M --adapter models/demo/lora --prompt "Q: 12+34= A:" -n 3 --out "$T/lora.jsonl" 2>/dev/null
$BIN report "$T/lora.jsonl" --out "$T/lora.html" 2>/dev/null
P=$(($(wc -l <"$T/lora.jsonl") - 1))
check "plain LoRA trace: one cell per row in each map, no distance" '[ "$(grep -c "class=\"cell share\"" "$T/lora.html")" = "$P" ] && [ "$(grep -c "class=\"cell kept\"" "$T/lora.html")" = "$P" ] && [ "$(grep -c "no router here, no distance" "$T/lora.html")" = 6 ]'

# bad input: one line on stderr naming the file, the line and the field; exit 1; no page
bad() {  # name, trace file, expected message
    $BIN report "$2" --out "$T/bad.html" 2>"$T/err"
    st=$?
    if [ $st -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && [ "$(cat "$T/err")" = "$3" ] && [ ! -e "$T/bad.html" ]; then ok "$1"
    else no "$1" "status $st, stderr: $(cat "$T/err")" "expected: $3"; fi
}
bad "missing trace file" "$T/none.jsonl" "report: $T/none.jsonl: cannot open: No such file or directory"
bad "a page is not a trace" "$T/r.html" "report: $T/r.html:1: not a JSON object (expected one JSON object per line: a trace)"
head -1 "$T/t.jsonl" >"$T/settings_only.jsonl"
bad "a trace without rows" "$T/settings_only.jsonl" "report: $T/settings_only.jsonl: no rows (expected a trace: one JSON object per position and block)"
sed '3s/,"identity_share":[^,]*//' "$T/t.jsonl" >"$T/no_share.jsonl"
bad "a row missing identity_share" "$T/no_share.jsonl" "report: $T/no_share.jsonl:3: field 'identity_share' missing (expected a number)"
sed '5s/"source":"prompt",//' "$T/t.jsonl" >"$T/no_source.jsonl"
bad "a row missing source" "$T/no_source.jsonl" "report: $T/no_source.jsonl:5: field 'source' missing (expected \"prompt\" or \"generated\")"
$BIN report "$T/t.jsonl" --out "$T/no/dir/r.html" 2>"$T/err"
check "a missing output directory is named as given, exit 1" '[ $? -eq 1 ] && grep -q "$T/no/dir/r.html" "$T/err" && [ "$(wc -l <"$T/err")" -eq 1 ]'
$BIN report "$T/t.jsonl" 2>"$T/err"
check "no --out: usage error, exit 2" '[ $? -eq 2 ] && grep -q "^report: --out FILE.html is required" "$T/err"'

# headless Chromium: the rendered DOM holds the SVG, and the screenshot shows something
CHROME=$(command -v chromium || command -v chromium-browser)
if [ -z "$CHROME" ]; then
    skip "the page rendered in headless chromium" "chromium is not installed (Debian package chromium)"
    skip "the screenshot is not blank" "chromium is not installed (Debian package chromium)"
else
    C="timeout 120 $CHROME --headless --no-sandbox --disable-gpu --user-data-dir=$T/chrome --window-size=1200,1400"
    $C --dump-dom "file://$T/r.html" >"$T/dom.html" 2>"$T/chrome.err"
    cells=$(grep -o '<rect class="cell share"' "$T/dom.html" | wc -l)
    svgs=$(grep -o '<svg' "$T/dom.html" | wc -l)
    P=$(($(wc -l <"$T/t.jsonl") - 1))
    check "chromium's DOM holds the heat maps' cells ($cells) and the SVGs ($svgs: 2 maps, legend, 6 charts)" '[ "$cells" -eq "$P" ] && [ "$svgs" -eq 9 ]'
    $C --screenshot="$T/shot.png" "file://$T/r.html" >/dev/null 2>>"$T/chrome.err"
    cat >"$T/png.py" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
i, idat, hdr = 8, b"", None
while i < len(data):
    n, kind = struct.unpack(">I4s", data[i:i + 8]); body = data[i + 8:i + 8 + n]; i += 12 + n
    if kind == b"IHDR": hdr = struct.unpack(">IIBBBBB", body)
    if kind == b"IDAT": idat += body
w, h, depth, ctype = hdr[:4]
bpp = {2: 3, 6: 4}[ctype]; assert depth == 8
raw, stride, prev, out = zlib.decompress(idat), w * bpp, bytearray(w * bpp), 0
for y in range(h):
    f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0; b = prev[x]; c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    out += sum(1 for x in range(0, stride, bpp) if min(line[x:x + 3]) < 200)
    prev = line
print(w, h, out)
EOF
    shot=$(python3 "$T/png.py" "$T/shot.png" 2>&1)
    dark=${shot##* }
    # the maps alone are 2 x (positions x 6) cells of 14 x 14 px, most of them coloured
    check "the screenshot (width height non-white pixels: $shot) is not blank" '[ "$dark" -gt 20000 ] 2>/dev/null'
fi
echo "1..$n"
