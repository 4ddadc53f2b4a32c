// options.c: the one option parser (see options.h): "--name value", "--name=value", flags, -h and
// the short names of the tables; the value checks and their messages are written here once.
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const Option* option_find(const Option* table, const char* name) {
    for (const Option* o = table; o->name; o++)
        if (!strcmp(o->name, name)) return o;
    return NULL;
}

static int in_list(const char* list, const char* name, size_t n) {
    for (const char* p = list; (p = strstr(p, name)) != NULL; p++)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0)) return 1;
    return 0;
}

static int set_has(const OptionSet* s, const Option* o) { return !s->only || in_list(s->only, o->name, strlen(o->name)); }

void options_defaults(const OptionSet* sets, int n_sets) {
    for (int k = 0; k < n_sets; k++)
        for (const Option* o = sets[k].opts; o->name; o++) {
            char* p = (char*)sets[k].base + o->offset;
            switch (o->type) {
            case OPT_FLAG: *(int*)p = 0; break;
            case OPT_STR: *(const char**)p = o->def_str; break;
            case OPT_INT:
            case OPT_CHOICE: *(int*)p = (int)o->def; break;
            case OPT_I64: *(long long*)p = (long long)o->def; break;
            case OPT_U64: *(uint64_t*)p = (uint64_t)o->def; break;
            case OPT_FLOAT: *(float*)p = (float)o->def; break;
            case OPT_CUSTOM: break;  // the command's struct starts zeroed
            }
        }
}

// The choices "a|b|c" as "a, b or c".
static void choices_text(const char* arg, char* buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (const char* p = arg; *p && len + 1 < n;) {
        size_t w = strcspn(p, "|");
        const char* sep = p[w] ? (strchr(p + w + 1, '|') ? ", " : " or ") : "";
        len += snprintf(buf + len, n - len, "%.*s%s", (int)w, p, sep);
        p += w + (p[w] != 0);
    }
}

// The range alone: "[0, 1)", ">= 1"; "" when the option has none.
static void range_text(const Option* o, char* buf, size_t n) {
    int b = o->bounds;
    if (o->type == OPT_U64 && !(b & HAS_MIN)) {  // unsigned: the lower end is always there
        snprintf(buf, n, ">= 0");
        return;
    }
    if ((b & HAS_MIN) && (b & HAS_MAX))
        snprintf(buf, n, "%c%.10g, %.10g%c", b & MIN_OPEN ? '(' : '[', o->min, o->max, b & MAX_OPEN ? ')' : ']');
    else if (b & HAS_MIN) snprintf(buf, n, "%s %.10g", b & MIN_OPEN ? ">" : ">=", o->min);
    else if (b & HAS_MAX) snprintf(buf, n, "%s %.10g", b & MAX_OPEN ? "<" : "<=", o->max);
    else buf[0] = 0;
}

void option_describe(const Option* o, char* buf, size_t n) {
    char range[128];
    if (o->type == OPT_CHOICE) {
        choices_text(o->arg, buf, n);
        return;
    }
    if (o->type == OPT_STR || o->type == OPT_CUSTOM || o->type == OPT_FLAG) {
        snprintf(buf, n, "%s", o->arg ? o->arg : "");
        return;
    }
    range_text(o, range, sizeof range);
    const char* kind = o->type == OPT_FLOAT ? "a number" : "an integer";
    int both = (o->bounds & HAS_MIN) && (o->bounds & HAS_MAX);
    snprintf(buf, n, "%s%s%s", kind, !*range ? "" : both ? " in " : " ", range);
}

static int in_bounds(const Option* o, double x) {
    int b = o->bounds;
    if ((b & HAS_MIN) && (b & MIN_OPEN ? !(x > o->min) : !(x >= o->min))) return 0;
    if ((b & HAS_MAX) && (b & MAX_OPEN ? !(x < o->max) : !(x <= o->max))) return 0;
    return 1;
}

static int bad_value(const Option* o, const char* label, const char* value, Err* err) {
    char want[256];
    option_describe(o, want, sizeof want);
    return err_set(err, "%s expects %s, got '%s'", label, want, value);
}

int option_parse_value(const Option* o, const char* label, const char* value, void* base, Err* err) {
    char* p = (char*)base + o->offset;
    char* end;
    errno = 0;
    switch (o->type) {
    case OPT_FLAG: *(int*)p = 1; return 0;
    case OPT_STR: *(const char**)p = value; return 0;
    case OPT_CUSTOM: return o->parse(o, label, value, base, err);
    case OPT_CHOICE: {
        size_t n = strlen(value);
        int k = 0;
        for (const char* c = o->arg; *c; k++) {
            size_t w = strcspn(c, "|");
            if (w == n && n && !strncasecmp(c, value, n)) {
                *(int*)p = k;
                return 0;
            }
            c += w + (c[w] != 0);
        }
        return bad_value(o, label, value, err);
    }
    case OPT_FLOAT: {
        double x = strtod(value, &end);
        if (end == value || *end || errno || !isfinite(x) || !in_bounds(o, x)) return bad_value(o, label, value, err);
        *(float*)p = (float)x;
        return 0;
    }
    case OPT_INT:
    case OPT_I64:
    case OPT_U64: {
        long long x = strtoll(value, &end, 10);
        double lo = o->type == OPT_INT ? INT32_MIN : (double)INT64_MIN, hi = o->type == OPT_INT ? INT32_MAX : (double)INT64_MAX;
        if (o->type == OPT_U64) lo = 0;
        if (end == value || *end || errno || x < lo || x > hi || !in_bounds(o, (double)x)) return bad_value(o, label, value, err);
        if (o->type == OPT_INT) *(int*)p = (int)x;
        else if (o->type == OPT_I64) *(long long*)p = x;
        else *(uint64_t*)p = (uint64_t)x;
        return 0;
    }
    }
    return 0;
}

static const Option* lookup(const OptionSet* sets, int n_sets, const char* name, size_t len, char short_name, void** base) {
    for (int k = 0; k < n_sets; k++)
        for (const Option* o = sets[k].opts; o->name; o++)
            if (set_has(&sets[k], o) &&
                (short_name ? o->short_name == short_name : strlen(o->name) == len && !strncmp(o->name, name, len))) {
                *base = sets[k].base;
                return o;
            }
    return NULL;
}

int options_parse(const char* cmd, const OptionSet* sets, int n_sets, int argc, char** argv, int* help, Err* err) {
    *help = 0;
    for (int i = 1; i < argc; i++) {
        const char* a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            *help = 1;
            continue;
        }
        const Option* o;
        void* base;
        const char *name, *eq = NULL;
        size_t len;
        if (a[0] == '-' && a[1] && a[1] != '-' && !a[2]) {  // -n
            name = a + 1, len = 1;
            o = lookup(sets, n_sets, name, len, a[1], &base);
        } else if (!strncmp(a, "--", 2) && a[2]) {
            name = a + 2;
            eq = strchr(name, '=');
            len = eq ? (size_t)(eq - name) : strlen(name);
            o = lookup(sets, n_sets, name, len, 0, &base);
        } else {
            return err_set(err, "%s: unexpected argument '%s' (see slimscope %s --help)", cmd, a, cmd);
        }
        if (!o) return err_set(err, "%s: unknown option '%s%.*s' (see slimscope %s --help)", cmd, a[1] == '-' ? "--" : "-", (int)len, name, cmd);
        char label[128];
        snprintf(label, sizeof label, "%s: --%s", cmd, o->name);
        const char* v = NULL;
        if (o->type == OPT_FLAG) {
            if (eq) return err_set(err, "%s takes no value", label);
        } else if (eq) {
            v = eq + 1;
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            return err_set(err, "%s needs a value (%s)", label, o->arg);
        }
        if (option_parse_value(o, label, v, base, err)) return -1;
    }
    return 0;
}

// The default as --help shows it, or "" when there is none to show.
static void default_text(const Option* o, char* buf, size_t n) {
    buf[0] = 0;
    if (o->type == OPT_FLAG || o->type == OPT_CUSTOM) return;
    if (o->def_str) {
        snprintf(buf, n, "%s", o->def_str);
    } else if (o->type == OPT_CHOICE) {
        const char* c = o->arg;
        for (int k = 0; k < (int)o->def && strchr(c, '|'); k++) c = strchr(c, '|') + 1;
        snprintf(buf, n, "%.*s", (int)strcspn(c, "|"), c);
    } else if (o->type != OPT_STR) {
        snprintf(buf, n, "%.10g", o->def);
    }
}

void options_print(FILE* f, const OptionSet* sets, int n_sets) {
    int width = 8;  // the left column fits the longest "--name ARG" up to 32; longer ones get a line
    for (int pass = 0; pass < 2; pass++) {
        for (int k = 0; k < n_sets; k++)
            for (const Option* o = sets[k].opts; o->name; o++) {
                if (!set_has(&sets[k], o)) continue;
                char left[128], range[128] = "", def[128], tail[400] = "";
                snprintf(left, sizeof left, "--%s%s%s", o->name, o->type == OPT_FLAG ? "" : " ", o->type == OPT_FLAG ? "" : o->arg);
                if (pass == 0) {
                    int w = (int)strlen(left);
                    if (w > width && w <= 32) width = w;
                    continue;
                }
                if (o->type != OPT_CHOICE) range_text(o, range, sizeof range);
                default_text(o, def, sizeof def);
                const char* in = (o->bounds & HAS_MIN) && (o->bounds & HAS_MAX) ? "in " : "";
                if (*range && *def) snprintf(tail, sizeof tail, "; %s%s, default %s", in, range, def);
                else if (*range) snprintf(tail, sizeof tail, "; %s%s", in, range);
                else if (*def) snprintf(tail, sizeof tail, "; default %s", def);
                char alias[32] = "";
                if (o->short_name) snprintf(alias, sizeof alias, " (also -%c)", o->short_name);
                if ((int)strlen(left) > width) fprintf(f, "  %s\n  %-*s %s%s%s\n", left, width, "", o->help, alias, tail);
                else fprintf(f, "  %-*s %s%s%s\n", width, left, o->help, alias, tail);
            }
    }
    fprintf(f, "  %-*s %s\n", width, "--help", "show this help (also -h)");
}

int options_begin(const char* cmd, const OptionSet* sets, int n_sets, int argc, char** argv, const char* usage) {
    Err err;
    int help;
    options_defaults(sets, n_sets);
    if (options_parse(cmd, sets, n_sets, argc, argv, &help, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 2;
    }
    if (!help) return -1;
    fputs(usage, stdout);
    printf("\noptions:\n");
    options_print(stdout, sets, n_sets);
    return 0;
}
