#!/usr/bin/env python3
"""results.py: models/demo/RESULTS.md from the outputs of tools/demo/eval.sh.

Reads EVAL/<key>.ppl.out, EVAL/<key>.exact.out (the key=value lines of `slimscope eval`; key =
base, or <method>_<seed>_p<p>), EVAL/base.snippets.out, EVAL/slim_<seed>.<part>.csv (`slimscope
profile`), the models' config files and safetensors headers (trainable-parameter counts), the
training logs OUT/logs/<method>[-<seed>].csv and WORK/corpus/corpus_stats.tsv, and prints the
Markdown to stdout. The first seed's adapters are the shipped ones (OUT/<method>), the others
live in OUT/seeds/<method>-<seed>. OUT/ANALYSIS.md, when present, is appended as it is.
"""
import argparse
import csv
import json
import math
import os
import struct
import sys

METHODS = [("lora", "LoRA"), ("moelora", "MoE-LoRA"), ("slim", "SLIM")]
PS = ["0", "0.3", "0.6"]
TASKS = ["add", "date", "reverse", "max"]
TASK_FORMATS = {
    "add": ('Q: 35+42= A:', ' 77'),
    "date": ('date 2021-03-07 ->', ' 7 March 2021'),
    "reverse": ('reverse: cat dog sun ->', ' sun dog cat'),
    "max": ('largest of 47 82 15:', ' 82'),
}


def parse_kv(path):
    """Lines of key=value pairs -> list of dicts."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            d = dict(tok.split("=", 1) for tok in line.split() if "=" in tok)
            if "metric" in d:
                out.append(d)
    return out


def safetensors_counts(path):
    """{tensor name: element count} from a safetensors header."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    counts = {}
    for name, info in header.items():
        if name != "__metadata__":
            counts[name] = math.prod(info["shape"])
    return counts


def trainable(adapter_dir):
    """Router and LoRA A/B elements (cluster centres, scales and quantiles are not trained by gradient)."""
    counts = safetensors_counts(os.path.join(adapter_dir, "adapter_model.safetensors"))
    return sum(c for name, c in counts.items() if ".clusters." not in name)


def model_params(model_dir):
    return sum(sum(safetensors_counts(os.path.join(model_dir, n)).values())
               for n in sorted(os.listdir(model_dir)) if n.endswith(".safetensors"))


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def fnum(x, nd=2):
    return ("%%.%df" % nd) % x


def mean(xs):
    return sum(xs) / len(xs)


def sd(xs):
    """Sample standard deviation (n - 1); 0 for a single value."""
    if len(xs) < 2:
        return 0.0
    m = mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def ms(xs, nd=1):
    return "%s ± %s" % (fnum(mean(xs), nd), fnum(sd(xs), nd))


def adapter_dir(out, method, seed, seeds):
    return os.path.join(out, method) if seed == seeds[0] else os.path.join(out, "seeds", "%s-%s" % (method, seed))


def log_path(out, method, seed, seeds):
    name = method if seed == seeds[0] else "%s-%s" % (method, seed)
    return os.path.join(out, "logs", name + ".csv")


def load_eval(ev, key):
    ppl = parse_kv(os.path.join(ev, key + ".ppl.out"))
    ex = parse_kv(os.path.join(ev, key + ".exact.out"))
    r = {"ppl": float(ppl[0]["value"]), "nll": float(ppl[0]["nll"]), "tokens": int(ppl[0]["tokens"]), "acc": {}, "n": {}}
    for d in ex:
        if "task" in d:
            r["acc"][d["task"]] = 100.0 * int(d["correct"]) / int(d["total"])
            r["n"][d["task"]] = int(d["total"])
    missing = [t for t in TASKS if t not in r["acc"]]
    if missing:
        sys.exit("results: %s: no exact-match line for task(s) %s" % (key, ", ".join(missing)))
    r["avg"] = mean([r["acc"][t] for t in TASKS])
    return r


def profile_share(path):
    """(tokens, per-block identity share) from a `slimscope profile --out` CSV and its .out text."""
    rows = read_csv(path)
    blocks = {}
    for r in rows:
        blocks[int(r["layer"])] = float(r["identity_share"])
    with open(path[:-4] + ".out", encoding="utf-8") as f:
        first = f.readline()
    tokens = int(first.split(" over ")[1].split()[0])
    return tokens, [blocks[k] for k in sorted(blocks)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--seeds", required=True)
    a = ap.parse_args()
    seeds = a.seeds.split()

    base = load_eval(a.eval, "base")
    # the seeds each method was trained with (eval.sh skips a missing one; the first is required)
    mseeds = {m: [s for s in seeds if os.path.exists(os.path.join(a.eval, "%s_%s_p0.ppl.out" % (m, s)))]
              for m, _ in METHODS}
    res = {(m, s, p): load_eval(a.eval, "%s_%s_p%s" % (m, s, p)) for m, _ in METHODS for s in mseeds[m] for p in PS}
    snip_base = parse_kv(os.path.join(a.eval, "base.snippets.out"))[0]

    base_cfg = json.load(open(os.path.join(a.out, "base", "config.json")))
    n_base = model_params(os.path.join(a.out, "base"))
    budget = {m: trainable(os.path.join(a.out, m)) for m, _ in METHODS}
    acfg = {m: json.load(open(os.path.join(a.out, m, "adapter_config.json"))) for m, _ in METHODS}
    label = dict(METHODS)

    P = print
    P("# Demo results: downstream accuracy and forgetting")
    P()
    P("Generated by `make demo-eval` (tools/demo/eval.sh, %s threads) from `slimscope eval` and `slimscope profile`;"
      % a.threads)
    P("do not edit by hand: findings go in models/demo/ANALYSIS.md, which is appended below. The models were made by")
    P("`make demo` (tools/demo/recipe.sh). Seeds: %s (the first seed's adapters are the shipped"
      % "; ".join("%s %s" % (lab, ", ".join(mseeds[m])) for m, lab in METHODS))
    P("models/demo/<method>, the others models/demo/seeds/<method>-<seed>); figures are mean ± sample standard")
    P("deviation over each method's seeds.")
    P()
    P("## Setup")
    P()
    P("- Base model: Llama architecture, %d layers, hidden %d, MLP %d, %d heads (%d KV heads), vocabulary %d, "
      "tied embeddings: %s parameters, pretrained from scratch on the general corpus (models/demo/SOURCES.md)."
      % (base_cfg["num_hidden_layers"], base_cfg["hidden_size"], base_cfg["intermediate_size"],
         base_cfg["num_attention_heads"], base_cfg.get("num_key_value_heads", base_cfg["num_attention_heads"]),
         base_cfg["vocab_size"], "{:,}".format(n_base)))
    stats = os.path.join(a.work, "corpus", "corpus_stats.tsv")
    if os.path.exists(stats):
        rows = list(csv.DictReader(open(stats), delimiter="\t"))
        docs = {sp: sum(int(r["documents"]) for r in rows if r["split"] == sp) for sp in ("train", "valid")}
        size = {sp: os.path.getsize(os.path.join(a.work, "corpus", "general_%s.txt" % sp)) for sp in ("train", "valid")}
        P("- General corpus: general_train.txt, %s documents, %s bytes; held out by document: general_valid.txt, "
          "%s documents, %s bytes, never seen in training." % ("{:,}".format(docs["train"]), "{:,}".format(size["train"]),
                                                              "{:,}".format(docs["valid"]), "{:,}".format(size["valid"])))
    pre = read_csv(os.path.join(a.out, "logs", "pretrain.csv"))
    vals = [float(r["val_loss"]) for r in pre if r.get("val_loss")]
    if pre:
        P("- Pretraining: %s steps; best early-stopping loss %s (on 2%% of the training documents)."
          % (pre[-1]["step"], fnum(min(vals), 4) if vals else "n/a"))
    P("- Downstream tasks (`slimscope demo-data`), trained as one mixture, each scored by greedy exact match on "
      "its own held-out examples (no prompt of a test set occurs in the training set):")
    for t in TASKS:
        p, r = TASK_FORMATS[t]
        P("  - %s: `%s` -> `%s` (%d test examples)" % (t, p, r, base["n"][t]))
    P("- Adapters on the MLP projections (gate, up, down) of every block, trainable parameters:")
    for m, lab in METHODS:
        c = acfg[m]
        desc = "r %s, alpha %s" % (c.get("r"), c.get("lora_alpha"))
        if m != "lora":
            desc += ", %s LoRA + %s identity experts, top %s" % (
                c.get("num_lora_experts"), c.get("num_identity_experts", 0), c.get("top_k"))
        if c.get("num_identity_experts"):
            desc += ", yield scale %s, distance %s, yield calibration %s" % (
                c.get("yield_scale"), c.get("distance", "max"), c.get("yield_calibration", "none"))
        if c.get("router_bias"):
            desc += ", router bias"
        ratio = 100.0 * (budget[m] - budget["lora"]) / budget["lora"]
        P("  - %s: %s (%s; %+.1f%% of LoRA's)" % (lab, "{:,}".format(budget[m]), desc, ratio))
        losses = [float(read_csv(log_path(a.out, m, s, seeds))[-1]["loss"]) for s in mseeds[m]]
        steps = read_csv(log_path(a.out, m, seeds[0], seeds))[-1]["step"]
        P("    training: %s steps, final training loss %s" % (steps, ms(losses, 4)))
    P()

    # --- Table 1: accuracy ---
    P("## Table 1: held-out task accuracy (exact match, %; mean ± sd over the seeds)")
    P()
    P("| model | p | " + " | ".join(TASKS) + " | average |")
    P("| --- | ---: | " + " | ".join("---:" for _ in TASKS) + " | ---: |")
    P("| base model (no adapter) | | %s | %s |" % (" | ".join(fnum(base["acc"][t], 1) for t in TASKS), fnum(base["avg"], 1)))
    for m, lab in METHODS:
        for p in PS:
            rs = [res[(m, s, p)] for s in mseeds[m]]
            P("| %s | %s | %s | %s |" % (lab, p, " | ".join(ms([r["acc"][t] for r in rs]) for t in TASKS),
                                         ms([r["avg"] for r in rs])))
    P()

    # --- Table 2: general ability ---
    b, bn = base["ppl"], base["nll"]
    P("## Table 2: general ability (held-out general text: the first %s tokens of general_valid.txt)" % "{:,}".format(base["tokens"]))
    P()
    P("Forgetting as the increase of perplexity over the base model, and as the increase of the loss in nats per")
    P("token (perplexity is exp(nats), so its increase exaggerates large losses).")
    P()
    P("| model | p | perplexity | increase | increase (%) | nats/token | increase (nats) |")
    P("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    P("| base model (no adapter) | | %s | 0.000 | 0.00 | %s | 0.0000 |" % (fnum(b, 3), fnum(bn, 4)))
    for m, lab in METHODS:
        for p in PS:
            rs = [res[(m, s, p)] for s in mseeds[m]]
            P("| %s | %s | %s | %s | %s | %s | %s |" % (
                lab, p, ms([r["ppl"] for r in rs], 3), ms([r["ppl"] - b for r in rs], 3),
                ms([100 * (r["ppl"] - b) / b for r in rs], 2), ms([r["nll"] for r in rs], 4),
                ms([r["nll"] - bn for r in rs], 4)))
    P()

    # --- identity share ---
    P("## Identity share of the SLIM adapters (mean over blocks and tokens; `slimscope profile`)")
    P()
    P("General text: the 512 snippets of general_valid.txt (tools/demo/general_snippets.py); task prompts: the")
    P("prompts of the four test sets (with BOS); task responses: the response tokens that follow them (the text")
    P("as written, no EOS), from the profile of prompt + response minus that of the prompt alone.")
    P()
    P("| seed | general text | task prompts | task responses |")
    P("| --- | ---: | ---: | ---: |")
    shares = {"general": [], "prompts": [], "responses": []}
    per_block = {"general": [], "prompts": [], "responses": []}
    for s in mseeds["slim"]:
        ng, g = profile_share(os.path.join(a.eval, "slim_%s.general.csv" % s))
        npr, pr = profile_share(os.path.join(a.eval, "slim_%s.prompts.csv" % s))
        nf, fu = profile_share(os.path.join(a.eval, "slim_%s.full.csv" % s))
        re = [(nf * f - npr * q) / (nf - npr) for f, q in zip(fu, pr)]
        for k, v in (("general", g), ("prompts", pr), ("responses", re)):
            shares[k].append(mean(v))
            per_block[k].append(v)
        P("| %s | %s | %s | %s |" % (s, fnum(mean(g), 3), fnum(mean(pr), 3), fnum(mean(re), 3)))
    P("| mean ± sd | %s | %s | %s |" % (ms(shares["general"], 3), ms(shares["prompts"], 3), ms(shares["responses"], 3)))
    P()
    L = len(per_block["general"][0])
    P("Per block (mean over seeds): " + "; ".join(
        "block %d: %s / %s / %s" % (l, fnum(mean([v[l] for v in per_block["general"]]), 2),
                                    fnum(mean([v[l] for v in per_block["prompts"]]), 2),
                                    fnum(mean([v[l] for v in per_block["responses"]]), 2)) for l in range(L))
      + " (general / prompts / responses).")
    P()

    # --- curve ---
    P("## General perplexity over training (the paper's Fig. 5 in miniature)")
    P()
    P("Perplexity on the 512 general-text snippets (about %s tokens, taken from the part of general_valid.txt"
      % "{:,}".format(int(snip_base["tokens"])))
    P("that Table 2 does not read), measured during training (`slimscope train --val-data`), mean over the seeds;")
    P("step 0 is the base model (`slimscope eval`).")
    P()
    curves = {m: [read_csv(log_path(a.out, m, s, seeds)) for s in mseeds[m]] for m, _ in METHODS}
    steps = [r["step"] for r in curves["lora"][0] if r.get("val_loss")]
    P("| step | " + " | ".join(lab for _, lab in METHODS) + " |")
    P("| ---: | " + " | ".join("---:" for _ in METHODS) + " |")
    P("| 0 | " + " | ".join(fnum(float(snip_base["value"]), 1) for _ in METHODS) + " |")
    for st in steps:
        cells = []
        for m, _ in METHODS:
            v = [math.exp(float(r["val_loss"])) for log in curves[m] for r in log if r["step"] == st and r.get("val_loss")]
            cells.append(fnum(mean(v), 1) if len(v) == len(mseeds[m]) else "n/a")
        P("| %s | %s |" % (st, " | ".join(cells)))
    P()

    # --- targets ---
    P("## The targets (issue 15)")
    P()
    avg = {m: [res[(m, s, "0")]["avg"] for s in mseeds[m]] for m, _ in METHODS}
    inc = {m: mean([res[(m, s, "0")]["ppl"] - b for s in mseeds[m]]) for m, _ in METHODS}
    incn = {m: mean([res[(m, s, "0")]["nll"] - bn for s in mseeds[m]]) for m, _ in METHODS}
    ratio_p = 100.0 * (budget["slim"] - budget["lora"]) / budget["lora"]
    P("- Every task >= 60%% with plain LoRA: %s -> %s." % (
        ", ".join("%s %s" % (t, fnum(mean([res[("lora", s, "0")]["acc"][t] for s in mseeds["lora"]]), 1)) for t in TASKS),
        "met" if all(mean([res[("lora", s, "0")]["acc"][t] for s in mseeds["lora"]]) >= 60 for t in TASKS) else "NOT met"))
    gap = mean(avg["lora"]) - mean(avg["slim"])
    P("- SLIM's average accuracy %s, LoRA's %s: %s points %s (target: within 3 points or above, at %+.1f%% of LoRA's "
      "trainable parameters, target +-10%%) -> %s." % (
          fnum(mean(avg["slim"]), 1), fnum(mean(avg["lora"]), 1), fnum(abs(gap), 1), "behind" if gap > 0 else "ahead",
          ratio_p, "met" if gap <= 3 and abs(ratio_p) <= 10 else "NOT met"))
    if inc["lora"] > 0 and incn["lora"] > 0:
        r1, r2 = inc["slim"] / inc["lora"], incn["slim"] / incn["lora"]
        P("- SLIM's perplexity increase %s against LoRA's %s: %s%% of it (target: at most a third) -> %s." % (
            fnum(inc["slim"], 3), fnum(inc["lora"], 3), fnum(100 * r1, 1), "met" if r1 <= 1 / 3 else "NOT met"))
        P("- SLIM's increase in nats per token %s against LoRA's %s: %s%% of it (target: at most 40%%) -> %s." % (
            fnum(incn["slim"], 4), fnum(incn["lora"], 4), fnum(100 * r2, 1), "met" if r2 <= 0.4 else "NOT met"))
    else:
        P("- LoRA's perplexity did not increase (%s), so the forgetting ratios are not meaningful here." % fnum(inc["lora"], 3))
    d3 = mean([res[("slim", s, "0.3")]["avg"] for s in mseeds["slim"]]) - mean(avg["slim"])
    P("- SLIM at p = 0.3: %s points against p = 0 (target: within 3) -> %s." % (
        fnum(d3, 1), "met" if abs(d3) <= 3 else "NOT met"))
    P("- Identity share on general text %s against %s on task prompts and %s on task responses." % (
        fnum(mean(shares["general"]), 3), fnum(mean(shares["prompts"]), 3), fnum(mean(shares["responses"]), 3)))
    analysis = os.path.join(a.out, "ANALYSIS.md")
    if os.path.exists(analysis):
        P()
        P(open(analysis, encoding="utf-8").read().rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
