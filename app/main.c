// main.c: subcommand dispatch and usage.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif

#include "commands.h"
#include "common.h"

typedef struct {
    const char* name;
    int (*run)(int argc, char** argv);
    const char* summary;
} Command;

static const Command COMMANDS[] = {
    {"generate", cmd_generate, "generate a continuation of a prompt (optionally with an adapter)"},
    {"forward", cmd_forward, "run a forward pass and dump the logits"},
    {"inspect", cmd_inspect, "print a model's architecture, parameter count, dtypes and memory use"},
    {"trace", cmd_trace, "generate and write every routing decision (the trace) as JSONL"},
    {"report", cmd_report, "one self-contained HTML page of a trace: heat maps of the routing, d vs threshold"},
    {"sweep", cmd_sweep, "CSV of KL and top-1 agreement against the masking ratio p"},
    {"compare", cmd_compare, "two adapters on the same text: per token KL and top-1, per block routing"},
    {"profile", cmd_profile, "expert load, identity share and distances per block over a data set"},
    {"bench", cmd_bench, "speed tables (decode with/without SLIM and masking, ...)"},
    {"train", cmd_train, "fine-tune a SLIM, LoRA or MoE-LoRA adapter on prompt/response JSONL"},
    {"pretrain", cmd_pretrain, "train a new Llama-family base model from scratch on text"},
    {"eval", cmd_eval, "perplexity on text, or exact-match accuracy on prompt/response JSONL"},
    {"tokenizer-train", cmd_tokenizer_train, "train a byte-level BPE tokenizer (tokenizer.json)"},
    {"demo-data", cmd_demo_data, "generate the demo's synthetic downstream tasks (JSONL)"},
    {"tokenize", cmd_tokenize, "encode text to token ids, or decode ids to text"},
    {"make-test-model", cmd_make_test_model, "write a small random model (and SLIM adapter) for tests"},
    {"tui", cmd_tui, "the terminal UI (also: slimscope --model DIR [--adapter DIR] ...)"},
};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE* f) {
    fprintf(f, "usage: slimscope COMMAND [options]   (slimscope COMMAND --help for its options; --version)\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-16s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
}

// Settings read by OpenBLAS and libgomp when they load, before main: set them and re-execute once.
// - OpenBLAS 0.3.21 mistakes Zen 5 for an AVX2 core; its SkylakeX kernels run ~1.8x faster there.
// - OpenMP threads waiting between parallel loops: libgomp's default spin (300k iterations) steals
//   the cores from anything else running (1.8 tokens/s instead of 50 on a 110M model, 2 threads, a
//   busy machine), sleeping at once (OMP_WAIT_POLICY=PASSIVE) pays a wake-up for each of the ~90
//   products of a token (30 tokens/s); a short spin, GOMP_SPINCOUNT=30000 (~10 us), covers the gap
//   between two products of one token and gives the cores back soon after (46-51 tokens/s).
// Under valgrind /proc/self/exe is valgrind itself, so there is no re-exec (`make valgrind`).
static void set_runtime_env(char** argv) {
    if (getenv("SLIMSCOPE_ENV_SET") || RUNNING_ON_VALGRIND) return;
    setenv("SLIMSCOPE_ENV_SET", "1", 1);
    int changed = 0;
    __builtin_cpu_init();
    if (!getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")) {
        setenv("OPENBLAS_CORETYPE", "SKYLAKEX", 1);
        changed = 1;
    }
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
        setenv("GOMP_SPINCOUNT", "30000", 1);
        changed = 1;
    }
    if (changed) execv("/proc/self/exe", argv);  // on failure, carry on with the defaults
}

int main(int argc, char** argv) {
    set_runtime_env(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("slimscope %s\n", SLIMSCOPE_VERSION);
        return 0;
    }
    if (!strncmp(argv[1], "--", 2)) return cmd_tui(argc, argv);  // options without a command: the TUI
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].run(argc - 1, argv + 1);
    fprintf(stderr, "slimscope: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
