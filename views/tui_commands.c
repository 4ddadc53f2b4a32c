// tui_commands.c: the `:` commands (see tui_commands.h). A value command (:temp :top-p :n :seed :p
// :mask-seed :mode) names a command-line option: its value is parsed and range-checked by that
// option's rule (app/settings.c), then its `set` function applies it. The other entries parse their
// own arguments. Either way a bad value goes to the message line, and a good one changes the UI
// state (sampler settings, help) or posts a job to the worker (p, seed, mode, forcing, load, save,
// reset).
#include "tui_commands.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/settings.h"
#include "slim.h"
#include "tui.h"

typedef struct {
    const char* name;
    const char* option;  // the command-line option whose rule the value follows (app/settings.c); args
                         // and help then come from it
    const char* args;
    const char* help;
    int (*run)(Tui* t, int argc, char** argv);
    void (*set)(Tui* t, const Settings* v);  // with `option`: applies the parsed value
} Command;

static int parse_ll(const char* s, long long* out) {
    char* end;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return end != s && !*end && !errno ? 0 : -1;
}

static int need_args(Tui* t, int argc, int want, const char* usage) {
    if (argc - 1 == want) return 0;
    tui_message(t, 1, "usage: %s", usage);
    return -1;
}

// The commands that set one value apply it here once the value passed its option's rule.
static void set_temp(Tui* t, const Settings* v) {
    t->ui.temp = v->temperature;
    tui_message(t, 0, "temperature %g%s", v->temperature, v->temperature == 0 ? " (greedy)" : "");
}

static void set_top_p(Tui* t, const Settings* v) {
    t->ui.top_p = v->top_p;
    tui_message(t, 0, "top-p %g", v->top_p);
}

static void set_n(Tui* t, const Settings* v) {
    t->ui.n_new = v->n_new;
    const Snapshot* s = worker_lock(t->w);
    int ctx = s->max_seq;
    worker_unlock(t->w);
    if (v->n_new >= ctx)  // accepted: a generation simply ends when the context is full
        tui_message(t, 0, "%d tokens per prompt; generation stops at the context's %d positions", v->n_new, ctx);
    else
        tui_message(t, 0, "%d tokens per prompt", v->n_new);
}

static void set_seed(Tui* t, const Settings* v) {
    t->ui.seed = v->seed;
    tui_message(t, 0, "sampling seed %llu", (unsigned long long)v->seed);
}

static void set_p(Tui* t, const Settings* v) {
    t->ui.p = v->mask_ratio;
    Job j = {.kind = JOB_SET_P, .f = v->mask_ratio};
    worker_post(t->w, &j);
}

static void set_mask_seed(Tui* t, const Settings* v) {
    t->ui.mask_seed = (uint64_t)v->mask_seed;
    Job j = {.kind = JOB_SET_MASK_SEED, .a = v->mask_seed};
    worker_post(t->w, &j);
}

static void set_mode(Tui* t, const Settings* v) {
    t->ui.mode = v->adapter_mode;
    Job j = {.kind = JOB_SET_MODE, .a = v->adapter_mode};
    worker_post(t->w, &j);
    tui_message(t, 0, "adapter mode %s", adapter_mode_name((AdapterMode)v->adapter_mode));
}

static void dims(Tui* t, int* L, int* E, int* n_id, int* has) {
    const Snapshot* s = worker_lock(t->w);
    *L = s->n_layers;
    *E = s->n_experts;
    *n_id = s->n_id;
    *has = s->has_adapter;
    worker_unlock(t->w);
}

static int c_force(Tui* t, int argc, char** argv) {
    long long l;
    int L, E, n_id, has;
    if (need_args(t, argc, 2, ":force BLOCK EXPERT")) return ACT_REDRAW;
    dims(t, &L, &E, &n_id, &has);
    if (!has) {
        tui_message(t, 1, ":force needs an adapter (:load DIR)");
        return ACT_REDRAW;
    }
    if (parse_ll(argv[1], &l) || l < 0 || l >= L) {
        tui_message(t, 1, ":force: block must be in 0..%d, got '%s'", L - 1, argv[1]);
        return ACT_REDRAW;
    }
    int e = slim_expert_parse(argv[2], n_id, E);
    char names[64], name[16];
    if (e < 0) {
        tui_message(t, 1, ":force: expert must be %s, got '%s'", slim_expert_range(names, sizeof names, n_id, E), argv[2]);
        return ACT_REDRAW;
    }
    Job j = {.kind = JOB_FORCE, .a = l, .b = e};
    worker_post(t->w, &j);
    tui_message(t, 0, "block %lld: %s expert %s forced", l, e < n_id ? "identity" : "LoRA", slim_expert_name(name, sizeof name, n_id, e));
    return ACT_REDRAW;
}

static int c_unforce(Tui* t, int argc, char** argv) {
    long long l = -1;
    int L, E, n_id, has;
    dims(t, &L, &E, &n_id, &has);
    if (argc > 2 || (argc == 2 && (parse_ll(argv[1], &l) || l < 0 || l >= L))) {
        tui_message(t, 1, "usage: :unforce [BLOCK] (block in 0..%d)", L - 1);
        return ACT_REDRAW;
    }
    Job j = {.kind = JOB_UNFORCE, .a = l};
    worker_post(t->w, &j);
    if (l < 0) tui_message(t, 0, "every block routed normally");
    else tui_message(t, 0, "block %lld routed normally", l);
    return ACT_REDRAW;
}

// A path as typed, with a leading ~ expanded (malloc'd).
static char* path_arg(const char* in) {
    const char* home = getenv("HOME");
    if (!(in[0] == '~' && (in[1] == '/' || in[1] == 0) && home)) return xstrdup(in);
    char* out = xmalloc(strlen(home) + strlen(in));
    sprintf(out, "%s%s", home, in + 1);
    return out;
}

static int c_load(Tui* t, int argc, char** argv) {
    if (need_args(t, argc, 1, ":load ADAPTER_DIR (or none)")) return ACT_REDRAW;
    char* dir = strcmp(argv[1], "none") ? path_arg(argv[1]) : NULL;
    Job j = {.kind = JOB_LOAD, .text = dir};
    worker_post(t->w, &j);
    free(dir);
    return ACT_REDRAW;
}

static int c_compare(Tui* t, int argc, char** argv) {
    if (need_args(t, argc, 1, ":compare ADAPTER_DIR (or off)")) return ACT_REDRAW;
    char* dir = strcmp(argv[1], "off") ? path_arg(argv[1]) : NULL;
    Job j = {.kind = JOB_COMPARE, .text = dir};
    worker_post(t->w, &j);
    free(dir);
    return ACT_REDRAW;
}

static int c_save(Tui* t, int argc, char** argv) {
    if (need_args(t, argc, 1, ":save FILE.jsonl")) return ACT_REDRAW;
    if (!strcmp(argv[1], "-")) {  // standard output is the screen here
        tui_message(t, 1, ":save needs a file name ('-', standard output, is the screen)");
        return ACT_REDRAW;
    }
    char* path = path_arg(argv[1]);
    Job j = {.kind = JOB_SAVE, .text = path};
    tui_fill_sampler(t, &j);  // the settings line's sampler when nothing was generated yet
    worker_post(t->w, &j);
    free(path);
    return ACT_REDRAW;
}

static int c_append(Tui* t, int argc, char** argv) {
    if (argc == 2 && (!strcmp(argv[1], "on") || !strcmp(argv[1], "off"))) {
        t->ui.append = !strcmp(argv[1], "on");
    } else if (argc != 1) {
        tui_message(t, 1, "usage: :append [on|off] (got '%s')", argv[1]);
        return ACT_REDRAW;
    }
    tui_message(t, 0, t->ui.append ? "a prompt continues the context (+TEXT too; :append off starts anew)"
                                   : "a prompt starts a new sequence (+TEXT continues the context once)");
    return ACT_REDRAW;
}

static int c_reset(Tui* t, int argc, char** argv) {
    if (need_args(t, argc, 0, ":reset")) return ACT_REDRAW;
    Job j = {.kind = JOB_RESET};
    worker_post(t->w, &j);
    t->ui.sel = -1;
    return ACT_REDRAW | ACT_RERUN;
}

static int c_help(Tui* t, int argc, char** argv) {
    t->ui.help = 1;
    t->ui.help_scroll = 0;
    return ACT_REDRAW;
}

static int c_quit(Tui* t, int argc, char** argv) { return ACT_QUIT; }

static const Command COMMANDS[] = {
    {"temp", "temp", .set = set_temp},
    {"top-p", "top-p", .set = set_top_p},
    {"n", "n", NULL, "tokens generated per prompt", .set = set_n},
    {"seed", "seed", .set = set_seed},
    {"p", "mask-ratio", .set = set_p},
    {"mask-seed", "mask-seed", .set = set_mask_seed},
    {"mode", "adapter-mode", .set = set_mode},
    {"force", NULL, "L E", "intervention: expert E (LoRA 0.., identity i0..) takes all the weight at block L", c_force},
    {"unforce", NULL, "[L]", "route block L (default: every block) normally again", c_unforce},
    {"load", NULL, "DIR", "swap the adapter without restarting (none: no adapter)", c_load},
    {"compare", NULL, "DIR", "compare the adapter with a second one on the context, in the Lens's place (off: end it)", c_compare},
    {"save", NULL, "FILE.jsonl", "write the session's trace as JSONL", c_save},
    {"append", NULL, "on|off", "on: a prompt continues the context; off (default): it starts a new one (+TEXT appends once)", c_append},
    {"reset", NULL, "", "clear the context", c_reset},
    {"help", NULL, "", "keys and commands", c_help},
    {"quit", NULL, "", "leave (also :q)", c_quit},
    {"q", NULL, NULL, NULL, c_quit},
};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

// ":NAME VALUE": the value parsed by the rule of the command's option, then applied.
static int set_option(Tui* t, const Command* c, int argc, char** argv) {
    char usage[160], label[64];
    snprintf(usage, sizeof usage, ":%s %s", c->name, settings_option(c->option)->arg);
    if (need_args(t, argc, 1, usage)) return ACT_REDRAW;
    snprintf(label, sizeof label, ":%s", c->name);
    Err err;
    Settings v;
    settings_defaults(&v, "tui");
    if (settings_parse_value(&v, c->option, label, argv[1], &err)) tui_message(t, 1, "%s", err.msg);
    else c->set(t, &v);
    return ACT_REDRAW;
}

int commands_execute(Tui* t, const char* line) {
    char* buf = xstrdup(line[0] == ':' ? line + 1 : line);
    char* argv[8];
    int argc = 0;
    for (char* tok = strtok(buf, " \t"); tok && argc < 8; tok = strtok(NULL, " \t")) argv[argc++] = tok;
    int f = ACT_OK;
    const Command* c = NULL;
    for (int i = 0; argc && i < N_COMMANDS && !c; i++)
        if (!strcmp(argv[0], COMMANDS[i].name)) c = &COMMANDS[i];
    if (c) {
        f = c->option ? set_option(t, c, argc, argv) : c->run(t, argc, argv);
    } else if (argc) {
        tui_message(t, 1, "unknown command ':%.200s' (:help lists them)", argv[0]);
        f = ACT_REDRAW;
    }
    free(buf);
    return f;
}

int commands_help(const char** out, int max) {
    static char lines[N_COMMANDS][160];
    int n = 0;
    for (int i = 0; i < N_COMMANDS && n < max; i++) {
        const Command* c = &COMMANDS[i];
        const Option* o = c->option ? settings_option(c->option) : NULL;
        if (!c->help && !o) continue;  // an alias
        char rule[160] = "";
        if (o && o->type != OPT_CHOICE) option_describe(o, rule, sizeof rule);
        snprintf(lines[n], sizeof lines[n], ":%s %s\t%s%s%s", c->name, o ? o->arg : c->args, c->help ? c->help : o->help,
                 *rule ? ": " : "", rule);
        out[n] = lines[n];
        n++;
    }
    return n;
}
