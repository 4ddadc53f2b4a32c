// settings.c: the option table of the inference commands (see settings.h); parsing, range checks,
// messages and --help come from app/options.c.
#include "settings.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "model.h"
#include "slim.h"

#define F(field) offsetof(Settings, field)

// --ids 1,2,3
static int parse_ids(const Option* o, const char* label, const char* v, void* base, Err* err) {
    Settings* s = base;
    free(s->ids);
    s->ids = xmalloc(MAX_LIST * sizeof(int));
    s->n_ids = 0;
    for (const char* p = v; *p;) {
        char* end;
        errno = 0;
        long id = strtol(p, &end, 10);
        if (end == p || id < 0 || id > 0x7fffffff || errno || (*end && *end != ',')) {
            int len = (int)strcspn(p, ",");  // the bad id alone
            return err_set(err, "%s: '%.*s' at index %d is not a token id (expected comma-separated ids, e.g. 1,2,3)", label,
                           len > 40 ? 40 : len, p, s->n_ids);
        }
        if (s->n_ids == MAX_LIST) return err_set(err, "%s takes at most %d ids", label, MAX_LIST);
        s->ids[s->n_ids++] = (int)id;
        p = *end == ',' ? end + 1 : end;
    }
    if (!s->n_ids) return err_set(err, "%s is empty", label);
    return 0;
}

// --force L:E, repeatable
static int parse_force(const Option* o, const char* label, const char* v, void* base, Err* err) {
    Settings* s = base;
    char* end;
    errno = 0;
    long l = strtol(v, &end, 10);
    const char* e = *end == ':' ? end + 1 : "";
    // the expert's name is checked against the adapter later: here only its form (i0.. or 0..)
    if (end == v || errno || l < 0 || l > 1 << 20 || slim_expert_parse(e, 1 << 20, 1 << 21) < 0)
        return err_set(err, "%s expects BLOCK:EXPERT (e.g. 3:0 for LoRA expert 0, 3:i1 for identity expert 1), got '%s'", label, v);
    if (s->n_force == 64) return err_set(err, "%s: too many of them (at most 64)", label);
    s->force_layer[s->n_force] = (int)l;
    snprintf(s->force_expert[s->n_force++], sizeof s->force_expert[0], "%s", e);
    return 0;
}

// --adapter DIR: the last one is the adapter; compare reads the first two
static int parse_adapter(const Option* o, const char* label, const char* v, void* base, Err* err) {
    Settings* s = base;
    s->adapter_dir = v;
    if (s->n_adapters < 2) s->adapter_dirs[s->n_adapters] = v;
    s->n_adapters++;
    return 0;
}

// --ratios 0,0.1,...: each value checked by the rule of --mask-ratio
static int parse_ratios(const Option* o, const char* label, const char* v, void* base, Err* err) {
    Settings* s = base;
    const Option* ratio = settings_option("mask-ratio");
    s->n_ratios = 0;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", v);
    for (char* tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        if (s->n_ratios == 64) return err_set(err, "%s takes at most 64 values", label);
        Settings one;
        if (option_parse_value(ratio, label, tok, &one, err)) return -1;
        s->ratios[s->n_ratios++] = one.mask_ratio;
    }
    if (!s->n_ratios) return err_set(err, "%s is empty", label);
    return 0;
}

static const Option OPTIONS[] = {
    {"model", OPT_STR, F(model_dir), "DIR", "Hugging Face model directory (config.json, *.safetensors, tokenizer.json)"},
    {"adapter", OPT_CUSTOM, 0, "DIR", "SLIM or PEFT LoRA adapter directory", .parse = parse_adapter},
    {"prompt", OPT_STR, F(prompt), "TEXT", "prompt text (tokenized with the model's tokenizer); -: standard input"},
    {"file", OPT_STR, F(prompt_file), "FILE", "prompt text read from FILE (less one final newline); -: standard input"},
    {"ids", OPT_CUSTOM, 0, "1,2,3", "prompt as token ids", .parse = parse_ids},
    {"n", OPT_INT, F(n_new), "N", "number of tokens to generate", 32, IN_RANGE(0, 1 << 20), .short_name = 'n'},
    {"temp", OPT_FLOAT, F(temperature), "T", "sampling temperature; 0 = greedy", 0, AT_LEAST(0)},
    {"top-p", OPT_FLOAT, F(top_p), "P", "nucleus sampling mass; 1 = off", 1, IN_RANGE_OC(0, 1)},
    {"seed", OPT_U64, F(seed), "S", "sampling seed", 0, AT_LEAST(0)},
    {"threads", OPT_INT, F(threads), "N", "threads for matrix products and loops", 0, "all cores", IN_RANGE(1, 1024)},
    {"all-positions", OPT_FLAG, F(all_positions), NULL, "dump logits of every position, row by row"},
    {"dump-logits", OPT_STR, F(dump_logits), "FILE", "write float32 little-endian logits to FILE"},
    {"mask-ratio", OPT_FLOAT, F(mask_ratio), "P", "masking ratio p of the dynamic merge", NAN, "the adapter's mask_ratio",
     IN_RANGE_CO(0, 1)},
    {"mask-seed", OPT_I64, F(mask_seed), "S", "seed of the mask keep-sets", -1, "the adapter's", AT_LEAST(0)},
    // the choices in the order of MaskRefresh, AdapterMode and WeightsMode: the position is the value
    {"mask-refresh", OPT_CHOICE, F(mask_refresh), "fixed|per_token", "one mask set per seed, or new masks at every position",
     -1, "the adapter's"},
    {"adapter-mode", OPT_CHOICE, F(adapter_mode), "slim|off|lora-only|identity-only", "how the adapter is applied", MODE_SLIM},
    {"force", OPT_CUSTOM, 0, "L:E", "force expert E at block L (repeatable)", .parse = parse_force},
    {"adapter-layers", OPT_STR, F(adapter_layers), "0-5,7", "apply the adapter only at these blocks"},
    {"out", OPT_STR, F(out), "FILE", "output file; -: standard output"},
    {"data", OPT_STR, F(data), "FILE", "text file, or JSONL with prompt/response fields; -: standard input"},
    {"ratios", OPT_CUSTOM, 0, "0,0.1,...", "masking ratios to sweep, each in [0, 1)", .parse = parse_ratios},
    {"seeds", OPT_INT, F(seeds), "K", "mask seeds per ratio", 1, IN_RANGE(1, 1000)},
    {"weights", OPT_CHOICE, F(weights), "native|f32|q8", "matrices as stored, widened to float32, or quantised to Q8_0",
     WEIGHTS_NATIVE},
    {"ctx", OPT_INT, F(max_seq), "N", "context length (KV cache positions)", 0, "the model's maximum", IN_RANGE(1, 1 << 24)},
    {"lens", OPT_FLAG, F(lens), NULL, "also record the logit lens"},
    // the choices in the order of DeviceKind
    {"device", OPT_CHOICE, F(device), "auto|cpu|cuda", "where the forward pass runs (auto: CUDA when a GPU is usable, else the CPU)",
     DEVICE_AUTO},
    {NULL},
};

void settings_defaults(Settings* s, const char* cmd) {
    memset(s, 0, sizeof *s);
    OptionSet all = {OPTIONS, s, NULL};
    options_defaults(&all, 1);
    s->cmd = cmd;
}

void settings_free(Settings* s) {
    free(s->ids);
    s->ids = NULL;
}

int settings_missing(Settings* s, const char* msg) {
    fprintf(stderr, "%s\n", msg);
    settings_free(s);
    return 2;
}

OptionSet settings_options(Settings* s, const char* allowed) { return (OptionSet){OPTIONS, s, allowed}; }

const Option* settings_option(const char* name) { return option_find(OPTIONS, name); }

int settings_parse_value(Settings* s, const char* name, const char* label, const char* value, Err* err) {
    return option_parse_value(settings_option(name), label, value, s, err);
}

int parse_layer_set(const char* spec, unsigned char* on, int n_layers, Err* err) {
    memset(on, 0, n_layers);
    const char* p = spec;
    while (*p) {
        char* end;
        long a = strtol(p, &end, 10), b;
        if (end == p) return err_set(err, "--adapter-layers: expected a list like 0-5,7, got '%s'", spec);
        b = a;
        if (*end == '-') {
            const char* q = end + 1;
            b = strtol(q, &end, 10);
            if (end == q) return err_set(err, "--adapter-layers: expected a list like 0-5,7, got '%s'", spec);
        }
        if (a < 0 || b >= n_layers || a > b)
            return err_set(err, "--adapter-layers: range %ld-%ld is outside the model's blocks 0..%d", a, b, n_layers - 1);
        for (long l = a; l <= b; l++) on[l] = 1;
        if (*end == ',') end++;
        else if (*end) return err_set(err, "--adapter-layers: unexpected '%c' in '%s'", *end, spec);
        p = end;
    }
    return 0;
}

int settings_begin(Settings* s, const char* cmd, int argc, char** argv, const char* allowed, const char* usage) {
    settings_defaults(s, cmd);
    OptionSet set = settings_options(s, allowed);
    int rc = options_begin(cmd, &set, 1, argc, argv, usage);
    if (rc >= 0) settings_free(s);
    return rc;
}
