// settings.c: command-line options shared by the subcommands, with clear one-line errors.
#include "settings.h"

#include "model.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "slim.h"

typedef struct {
    const char* name;
    const char* arg;   // NULL for a flag without a value
    const char* help;
} OptionInfo;

static const OptionInfo OPTIONS[] = {
    {"model", "DIR", "Hugging Face model directory (config.json, *.safetensors, tokenizer.json)"},
    {"adapter", "DIR", "SLIM or PEFT LoRA adapter directory"},
    {"prompt", "TEXT", "prompt text (tokenized with the model's tokenizer)"},
    {"ids", "1,2,3", "prompt as token ids"},
    {"n", "N", "number of tokens to generate (also -n)"},
    {"temp", "T", "sampling temperature; 0 = greedy (default 0)"},
    {"top-p", "P", "nucleus sampling mass (default 1 = off)"},
    {"seed", "S", "sampling seed (default 0)"},
    {"threads", "N", "threads for matrix products and loops (default: all cores)"},
    {"all-positions", NULL, "dump logits of every position, row by row"},
    {"dump-logits", "FILE", "write float32 little-endian logits to FILE"},
    {"mask-ratio", "P", "masking ratio p of the dynamic merge, in [0, 1)"},
    {"mask-seed", "S", "seed of the mask keep-sets"},
    {"mask-refresh", "fixed|per_token", "one mask set per seed, or new masks at every position"},
    {"adapter-mode", "slim|off|lora-only|identity-only", "how the adapter is applied"},
    {"force", "L:E", "force expert E at block L (repeatable)"},
    {"adapter-layers", "0-5,7", "apply the adapter only at these blocks"},
    {"out", "FILE", "output file"},
    {"data", "FILE", "text file, or JSONL with prompt/response fields"},
    {"metric", "ppl|exact", "evaluation metric"},
    {"ratios", "0,0.1,...", "masking ratios to sweep"},
    {"seeds", "K", "mask seeds per ratio"},
    {"weights", "native|f32|q8", "matrices as stored (default), widened to float32, or quantised to Q8_0"},
    {"ctx", "N", "context length (KV cache positions; default: the model's maximum)"},
    {"lens", NULL, "also record the logit lens"},
    {"device", "cpu|cuda|auto", "where the forward pass runs (default auto: CUDA when a GPU is usable, else the CPU)"},
    {"help", NULL, "show this help"},
};
#define N_OPTIONS (int)(sizeof OPTIONS / sizeof OPTIONS[0])

void settings_defaults(Settings* s, const char* cmd) {
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
    s->n_new = 32;
    s->top_p = 1.0f;
    s->mask_ratio = NAN;
    s->mask_seed = -1;
    s->mask_refresh = -1;
    s->adapter_mode = MODE_SLIM;
    s->seeds = 1;
}

void settings_free(Settings* s) { free(s->ids); }

static int allowed_has(const char* allowed, const char* name) {
    size_t n = strlen(name);
    for (const char* p = allowed; (p = strstr(p, name)) != NULL; p += n)
        if ((p == allowed || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

static int parse_float(const char* v, float* out, const char* cmd, const char* opt, Err* err) {
    char* end;
    errno = 0;
    double d = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(d)) return err_set(err, "%s: --%s expects a number, got '%s'", cmd, opt, v);
    *out = (float)d;
    return 0;
}

static int parse_long(const char* v, long long lo, long long hi, long long* out, const char* cmd, const char* opt, Err* err) {
    char* end;
    errno = 0;
    long long d = strtoll(v, &end, 10);
    if (end == v || *end || errno || d < lo || d > hi)
        return err_set(err, "%s: --%s expects an integer in [%lld, %lld], got '%s'", cmd, opt, lo, hi, v);
    *out = d;
    return 0;
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

int settings_parse(Settings* s, int argc, char** argv, const char* allowed, Err* err) {
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (strcmp(a, "-h") == 0) a = "--help";
        if (strcmp(a, "-n") == 0) a = "--n";
        if (strncmp(a, "--", 2) != 0) return err_set(err, "%s: unexpected argument '%s' (see slimscope %s --help)", s->cmd, a, s->cmd);
        char name[64];
        const char* eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        snprintf(name, sizeof name, "%.*s", (int)nl, a + 2);
        const OptionInfo* opt = NULL;
        for (int k = 0; k < N_OPTIONS; k++)
            if (strcmp(OPTIONS[k].name, name) == 0) opt = &OPTIONS[k];
        if (!opt || (!allowed_has(allowed, name) && strcmp(name, "help") != 0))
            return err_set(err, "%s: unknown option '--%s' (see slimscope %s --help)", s->cmd, name, s->cmd);
        const char* v = NULL;
        if (opt->arg) {
            if (eq) v = eq + 1;
            else if (i + 1 < argc) v = argv[++i];
            else return err_set(err, "%s: option --%s needs a value (%s)", s->cmd, name, opt->arg);
        }
        long long ll;
        const char* c = s->cmd;
        if (!strcmp(name, "help")) s->help = 1;
        else if (!strcmp(name, "model")) s->model_dir = v;
        else if (!strcmp(name, "adapter")) s->adapter_dir = v;
        else if (!strcmp(name, "prompt")) s->prompt = v;
        else if (!strcmp(name, "out")) s->out = v;
        else if (!strcmp(name, "data")) s->data = v;
        else if (!strcmp(name, "dump-logits")) s->dump_logits = v;
        else if (!strcmp(name, "metric")) s->metric = v;
        else if (!strcmp(name, "adapter-layers")) s->adapter_layers = v;
        else if (!strcmp(name, "all-positions")) s->all_positions = 1;
        else if (!strcmp(name, "lens")) s->lens = 1;
        else if (!strcmp(name, "ids")) {
            free(s->ids);
            s->ids = xmalloc(MAX_LIST * sizeof(int));
            s->n_ids = 0;
            for (const char* p = v; *p;) {
                char* end;
                errno = 0;
                long id = strtol(p, &end, 10);
                if (end == p || id < 0 || id > 0x7fffffff || errno)
                    return err_set(err, "%s: --ids expects comma-separated token ids, got '%s'", c, v);
                if (s->n_ids == MAX_LIST) return err_set(err, "%s: --ids takes at most %d ids", c, MAX_LIST);
                s->ids[s->n_ids++] = (int)id;
                p = *end == ',' ? end + 1 : end;
                if (*end && *end != ',') return err_set(err, "%s: --ids expects comma-separated token ids, got '%s'", c, v);
            }
            if (!s->n_ids) return err_set(err, "%s: --ids is empty", c);
        } else if (!strcmp(name, "n")) {
            if (parse_long(v, 0, 1 << 20, &ll, c, "n", err)) return -1;
            s->n_new = (int)ll;
        } else if (!strcmp(name, "threads")) {
            if (parse_long(v, 1, 1024, &ll, c, "threads", err)) return -1;
            s->threads = (int)ll;
        } else if (!strcmp(name, "weights")) {
            int k = 0;
            while (k < 3 && strcmp(v, WEIGHTS_MODE_NAMES[k])) k++;
            if (k == 3) return err_set(err, "%s: --weights expects native, f32 or q8, got '%s'", c, v);
            s->weights = k;
        } else if (!strcmp(name, "device")) {
            s->device = device_from_name(v);
            if (s->device < 0) return err_set(err, "%s: --device expects cpu, cuda or auto, got '%s'", c, v);
        } else if (!strcmp(name, "ctx")) {
            if (parse_long(v, 1, 1 << 24, &ll, c, "ctx", err)) return -1;
            s->max_seq = (int)ll;
        } else if (!strcmp(name, "seeds")) {
            if (parse_long(v, 1, 1000, &ll, c, "seeds", err)) return -1;
            s->seeds = (int)ll;
        } else if (!strcmp(name, "seed")) {
            if (parse_long(v, 0, 0x7fffffffffffffffLL, &ll, c, "seed", err)) return -1;
            s->seed = (uint64_t)ll;
        } else if (!strcmp(name, "mask-seed")) {
            if (parse_long(v, 0, 0x7fffffffffffffffLL, &ll, c, "mask-seed", err)) return -1;
            s->mask_seed = ll;
        } else if (!strcmp(name, "temp")) {
            if (parse_float(v, &s->temperature, c, name, err)) return -1;
            if (s->temperature < 0) return err_set(err, "%s: --temp must be >= 0, got %s", c, v);
        } else if (!strcmp(name, "top-p")) {
            if (parse_float(v, &s->top_p, c, name, err)) return -1;
            if (!(s->top_p > 0 && s->top_p <= 1)) return err_set(err, "%s: --top-p must be in (0, 1], got %s", c, v);
        } else if (!strcmp(name, "mask-ratio")) {
            if (parse_float(v, &s->mask_ratio, c, name, err)) return -1;
            if (!(s->mask_ratio >= 0 && s->mask_ratio < 1)) return err_set(err, "%s: --mask-ratio must be in [0, 1), got %s", c, v);
        } else if (!strcmp(name, "mask-refresh")) {
            if (strcmp(v, "fixed") && strcmp(v, "per_token"))
                return err_set(err, "%s: --mask-refresh must be fixed or per_token, got '%s'", c, v);
            s->mask_refresh = mask_refresh_from_name(v);
        } else if (!strcmp(name, "adapter-mode")) {
            s->adapter_mode = adapter_mode_from_name(v);
            if (s->adapter_mode < 0)
                return err_set(err, "%s: --adapter-mode must be slim, off, lora-only or identity-only, got '%s'", c, v);
        } else if (!strcmp(name, "force")) {
            int l, e;
            char tail;
            if (sscanf(v, "%d:%d%c", &l, &e, &tail) != 2 || l < 0 || e < 0)
                return err_set(err, "%s: --force expects LAYER:EXPERT (e.g. 3:0), got '%s'", c, v);
            if (s->n_force == 64) return err_set(err, "%s: too many --force options", c);
            s->force_layer[s->n_force] = l;
            s->force_expert[s->n_force++] = e;
        } else if (!strcmp(name, "ratios")) {
            s->n_ratios = 0;
            char buf[1024];
            snprintf(buf, sizeof buf, "%s", v);
            for (char* tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
                if (s->n_ratios == 64) return err_set(err, "%s: --ratios takes at most 64 values", c);
                float r;
                if (parse_float(tok, &r, c, name, err)) return -1;
                if (!(r >= 0 && r < 1)) return err_set(err, "%s: --ratios values must be in [0, 1), got %s", c, tok);
                s->ratios[s->n_ratios++] = r;
            }
        }
    }
    return 0;
}

void settings_print_options(FILE* f, const char* allowed) {
    for (int k = 0; k < N_OPTIONS; k++) {
        if (!allowed_has(allowed, OPTIONS[k].name) && strcmp(OPTIONS[k].name, "help") != 0) continue;
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", OPTIONS[k].name, OPTIONS[k].arg ? " " : "", OPTIONS[k].arg ? OPTIONS[k].arg : "");
        fprintf(f, "  %-34s %s\n", left, OPTIONS[k].help);
    }
}

int settings_begin(Settings* s, const char* cmd, int argc, char** argv, const char* allowed, const char* usage) {
    Err err;
    settings_defaults(s, cmd);
    if (settings_parse(s, argc, argv, allowed, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        settings_free(s);
        return 2;
    }
    if (s->help) {
        fputs(usage, stdout);
        printf("\noptions:\n");
        settings_print_options(stdout, allowed);
        settings_free(s);
        return 0;
    }
    return -1;
}
