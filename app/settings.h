// settings.h: the options of the inference commands (generate, forward, trace, sweep, profile,
// inspect, the TUI, eval), parsed into one Settings struct by the table of settings.c. Each command
// names the options it accepts; anything else is a one-line error.
#ifndef SLIMSCOPE_SETTINGS_H
#define SLIMSCOPE_SETTINGS_H

#include "common.h"
#include "options.h"

#define MAX_LIST 4096

typedef struct {
    const char* cmd;           // subcommand name, for messages
    const char* model_dir;     // --model
    const char* adapter_dir;   // --adapter (the last one given)
    const char* adapter_dirs[2];  // the first two --adapter given (compare takes two)
    int n_adapters;
    const char* prompt_file;   // --file: the prompt read from a file
    const char* prompt;        // --prompt
    const char* out;           // --out
    const char* data;          // --data
    const char* dump_logits;   // --dump-logits
    int* ids;                  // --ids 1,2,3
    int n_ids;
    int threads;               // --threads (0 = all cores)
    int n_new;                 // -n / --n
    float temperature;         // --temp
    float top_p;               // --top-p
    uint64_t seed;             // --seed
    int all_positions;         // --all-positions
    float mask_ratio;          // --mask-ratio (NAN = adapter default)
    long long mask_seed;       // --mask-seed (-1 = adapter default)
    int mask_refresh;          // --mask-refresh (-1 = adapter default)
    int adapter_mode;          // --adapter-mode (MODE_SLIM by default)
    // --force L:E (repeatable); E as typed ("i1", "5": core/slim.h's names), resolved against the
    // adapter when the session opens
    int force_layer[64], n_force;
    char force_expert[64][8];
    const char* adapter_layers;  // --adapter-layers 0-5,7
    float ratios[64];          // --ratios 0,0.1,...
    int n_ratios;
    int seeds;                 // --seeds K
    int weights;               // --weights: a WeightsMode (native by default)
    int max_seq;               // --ctx (KV cache positions; 0 = model maximum)
    int lens;                  // --lens
    int device;                // --device: a DeviceKind (auto by default)
} Settings;

// The defaults of every field (each option's default is in the table of settings.c).
void settings_defaults(Settings* s, const char* cmd);
void settings_free(Settings* s);
// A required option is missing: prints msg (one line), frees s and returns 2 (the exit status).
int settings_missing(Settings* s, const char* msg);

// The options `allowed` (space-separated long names, e.g. "model ids threads") of the table, for
// commands that add options of their own (options_begin with several sets).
OptionSet settings_options(Settings* s, const char* allowed);
// One option's rule, and one value parsed by it (the TUI's `:` commands): 0, or -1 with err
// starting with `label`.
const Option* settings_option(const char* name);
int settings_parse_value(Settings* s, const char* name, const char* label, const char* value, Err* err);

// Parses "0-5,7" into a per-layer on/off array (n_layers); 0 or -1 with err.
int parse_layer_set(const char* spec, unsigned char* on, int n_layers, Err* err);

// The start of every subcommand: defaults, parse `allowed`, and --help (usage text, then the
// options). Returns -1 to go on, or the exit status to return at once (0 after --help, 2 after a
// one-line error on stderr; the settings are freed then).
int settings_begin(Settings* s, const char* cmd, int argc, char** argv, const char* allowed, const char* usage);

#endif
