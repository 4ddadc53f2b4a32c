// opts.h: option tables for the training commands: "--name value" or "--name=value".
#ifndef SLIMSCOPE_OPTS_H
#define SLIMSCOPE_OPTS_H

#include <stdio.h>

#include "common.h"

typedef enum { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_STR, OPT_U64 } OptType;
typedef struct {
    const char* name;
    OptType type;
    void* ptr;        // int*, int*, float*, const char**, uint64_t*
    const char* help;
    int seen;
} Opt;
int opts_parse(Opt* opts, int argc, char** argv, int* help, Err* err);  // opts ends with {NULL}
void opts_usage(FILE* f, const Opt* opts);
int opts_seen(const Opt* opts, const char* name);
// The start of a training command: parse, and on --help print usage then the options.
// Returns -1 to go on, or the exit status to return at once (0 after --help, 2 after an error).
int opts_begin(Opt* opts, int argc, char** argv, const char* usage);

#endif
