// options.h: the one option parser. Every command describes its options in a table (name, type,
// range, default, help text); parsing, the range checks, their error messages and --help all come
// from that table, and the TUI's `:` commands parse their values through the same entries.
#ifndef SLIMSCOPE_OPTIONS_H
#define SLIMSCOPE_OPTIONS_H

#include <stddef.h>
#include <stdio.h>

#include "common.h"

typedef enum {
    OPT_FLAG,    // no value; stores int 1
    OPT_STR,     // const char*
    OPT_INT,     // int
    OPT_I64,     // long long
    OPT_U64,     // uint64_t
    OPT_FLOAT,   // float
    OPT_CHOICE,  // int: the position of the value in `arg` ("a|b|c" stores 0, 1 or 2)
    OPT_CUSTOM,  // `parse` does the work
} OptType;

// Which ends of [min, max] apply, and whether they are open.
enum { HAS_MIN = 1, HAS_MAX = 2, MIN_OPEN = 4, MAX_OPEN = 8 };
#define AT_LEAST(a) .min = (a), .bounds = HAS_MIN
#define IN_RANGE(a, b) .min = (a), .max = (b), .bounds = HAS_MIN | HAS_MAX                  // [a, b]
#define IN_RANGE_CO(a, b) .min = (a), .max = (b), .bounds = HAS_MIN | HAS_MAX | MAX_OPEN     // [a, b)
#define IN_RANGE_OC(a, b) .min = (a), .max = (b), .bounds = HAS_MIN | HAS_MAX | MIN_OPEN     // (a, b]

// The option tables leave the fields an option does not use to zero ({"model", OPT_STR, ..., "help"}):
// that is the point of the table, so the warning about it is off where options.h is included.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

typedef struct Option Option;
// OPT_CUSTOM: parses `value` into the command's struct `base`; `label` ("generate: --ids") starts
// any error message.
typedef int (*OptionParseFn)(const Option* o, const char* label, const char* value, void* base, Err* err);

struct Option {
    const char* name;      // long name without the dashes; NULL ends a table
    OptType type;
    size_t offset;         // where the value goes in the command's struct (offsetof)
    const char* arg;       // the value in --help ("DIR"); for OPT_CHOICE the choices, "a|b|c"
    const char* help;      // one line
    double def;            // default of a number or choice (position in `arg`)
    const char* def_str;   // OPT_STR: the default; other types: the default in words when `def` is a
                           // sentinel (NAN, -1, 0 = "all cores"), shown in --help instead of it
    int bounds;            // HAS_MIN | ..., see AT_LEAST / IN_RANGE*
    double min, max;
    OptionParseFn parse;   // OPT_CUSTOM only
    char short_name;       // e.g. 'n' for -n (0: none)
};

// The options a command takes from one table: all of them (only == NULL) or the space-separated
// names in `only`, written into the struct at `base`.
typedef struct {
    const Option* opts;
    void* base;
    const char* only;
} OptionSet;

const Option* option_find(const Option* table, const char* name);
void options_defaults(const OptionSet* sets, int n_sets);
// Parses argv[1..] for the command `cmd` (named in the messages). Sets *help on --help / -h.
// Returns 0, or -1 with err.
int options_parse(const char* cmd, const OptionSet* sets, int n_sets, int argc, char** argv, int* help, Err* err);
// One value for one option (the TUI's `:` commands): label names it in the error message (":p").
int option_parse_value(const Option* o, const char* label, const char* value, void* base, Err* err);
// "a number in [0, 1)", "an integer >= 1", "slim, off or lora-only": what the option accepts.
void option_describe(const Option* o, char* buf, size_t n);
void options_print(FILE* f, const OptionSet* sets, int n_sets);
// The start of a command: defaults, parse, and --help (usage, then the generated option lines).
// Returns -1 to go on, or the exit status to return at once: 0 after --help, 2 after a one-line
// error on stderr.
int options_begin(const char* cmd, const OptionSet* sets, int n_sets, int argc, char** argv, const char* usage);

#endif
