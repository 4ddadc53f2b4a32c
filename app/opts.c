// opts.c: option tables for the training commands (train, pretrain, eval): each option names its
// type and destination, so a command's flags, parsing and --help come from one table.
#include "opts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int opts_parse(Opt* opts, int argc, char** argv, int* help, Err* err) {
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) return err_set(err, "%s: unexpected argument '%s'", argv[0], a);
        const char* name = a + 2;
        const char* eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        Opt* o = NULL;
        for (Opt* p = opts; p->name; p++)
            if (strlen(p->name) == nl && !strncmp(p->name, name, nl)) o = p;
        if (!o) return err_set(err, "%s: unknown option '--%.*s' (see slimscope %s --help)", argv[0], (int)nl, name, argv[0]);
        o->seen = 1;
        if (o->type == OPT_FLAG) {
            if (eq) return err_set(err, "%s: --%s takes no value", argv[0], o->name);
            *(int*)o->ptr = 1;
            continue;
        }
        const char* v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) return err_set(err, "%s: --%s needs a value", argv[0], o->name);
        char* end = NULL;
        switch (o->type) {
        case OPT_INT: {
            long x = strtol(v, &end, 10);
            if (!*v || *end) return err_set(err, "%s: --%s expects an integer, got '%s'", argv[0], o->name, v);
            *(int*)o->ptr = (int)x;
            break;
        }
        case OPT_U64: {
            unsigned long long x = strtoull(v, &end, 10);
            if (!*v || *end || *v == '-') return err_set(err, "%s: --%s expects a non-negative integer, got '%s'", argv[0], o->name, v);
            *(uint64_t*)o->ptr = x;
            break;
        }
        case OPT_FLOAT: {
            double x = strtod(v, &end);
            if (!*v || *end || !isfinite(x)) return err_set(err, "%s: --%s expects a number, got '%s'", argv[0], o->name, v);
            *(float*)o->ptr = (float)x;
            break;
        }
        case OPT_STR:
            *(const char**)o->ptr = v;
            break;
        default:
            break;
        }
    }
    return 0;
}

void opts_usage(FILE* f, const Opt* opts) {
    for (const Opt* o = opts; o->name; o++) {
        char left[64];
        const char* arg = o->type == OPT_FLAG ? "" : o->type == OPT_STR ? " S" : o->type == OPT_FLOAT ? " X" : " N";
        snprintf(left, sizeof left, "--%s%s", o->name, arg);
        fprintf(f, "  %-24s %s\n", left, o->help);
    }
}

int opts_seen(const Opt* opts, const char* name) {
    for (const Opt* o = opts; o->name; o++)
        if (!strcmp(o->name, name)) return o->seen;
    return 0;
}

int opts_begin(Opt* opts, int argc, char** argv, const char* usage) {
    Err err;
    int help;
    if (opts_parse(opts, argc, argv, &help, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 2;
    }
    if (!help) return -1;
    fputs(usage, stdout);
    opts_usage(stdout, opts);
    return 0;
}
