// generation.h: the one token-generation loop: sample the next token from the logits, stop at EOS,
// at the count or when the context is full, feed the token back. generate, trace, eval, bench and
// the TUI's worker all run it; they differ only in the flags below and in what they do per token.
#ifndef SLIMSCOPE_GENERATION_H
#define SLIMSCOPE_GENERATION_H

#include "common.h"
#include "sampler.h"

enum {
    GEN_EMIT_EOS = 1,  // the EOS token is passed on (and fed with GEN_FEED_ALL) before stopping;
                       // without it the loop stops before EOS
    GEN_FEED_ALL = 2,  // every token is fed, the last one too (it needs a trace row); without it the
                       // last token and EOS are not fed, and a token is still passed on when there
                       // is no room left to feed it
};

typedef enum { GEN_DONE, GEN_EOS, GEN_FULL, GEN_STOPPED, GEN_ERROR } GenEnd;

typedef struct {
    int n_new;               // at most this many tokens
    int eos;                 // end-of-sequence id (-1: none)
    unsigned flags;          // GEN_EMIT_EOS, GEN_FEED_ALL
    Sampler* sampler;
    // The state the tokens go to: feed appends one token (0, or -1 with err) and updates *logits;
    // room is how many more tokens it takes.
    int (*feed)(void* state, int id, Err* err);
    int (*room)(const void* state);
    const float* logits;     // the next-token logits (vocabulary size of the sampler)
    void* state;
    // After each token passed on (index k from 0); nonzero stops the loop (optional).
    int (*on_token)(void* ctx, int k, int id);
    void* ctx;
    const volatile int* cancel;  // stops the loop before the next token when set (optional)
} Generation;

// Runs the loop; *produced counts the tokens passed on. Returns why it ended (GEN_ERROR: err).
GenEnd generation_run(const Generation* g, int* produced, Err* err);

#endif
