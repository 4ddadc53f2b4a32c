// generation.c: the one token-generation loop (see generation.h).
#include "generation.h"

GenEnd generation_run(const Generation* g, int* produced, Err* err) {
    int feed_all = (g->flags & GEN_FEED_ALL) != 0;
    *produced = 0;
    for (int k = 0; k < g->n_new; k++) {
        if (g->cancel && *g->cancel) return GEN_STOPPED;
        int next = sampler_sample(g->sampler, g->logits);
        int is_eos = next == g->eos;
        if (is_eos && !(g->flags & GEN_EMIT_EOS)) return GEN_EOS;
        if (feed_all) {
            if (g->room(g->state) <= 0) return GEN_FULL;
            if (g->feed(g->state, next, err)) return GEN_ERROR;
        }
        (*produced)++;
        if (g->on_token && g->on_token(g->ctx, k, next)) return GEN_STOPPED;
        if (is_eos) return GEN_EOS;
        if (k + 1 == g->n_new) break;
        if (!feed_all) {
            if (g->room(g->state) <= 0) return GEN_FULL;
            if (g->feed(g->state, next, err)) return GEN_ERROR;
        }
    }
    return GEN_DONE;
}
