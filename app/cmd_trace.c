// cmd_trace.c: `slimscope trace`: generate from a prompt and write every routing decision as JSONL.
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "session.h"

static const char* USAGE =
    "usage: slimscope trace --model DIR --adapter DIR (--prompt TEXT | --ids 1,2,3) -n N --out FILE.jsonl\n"
    "Writes one JSON object per position and block: pos, token, text, layer, routed, z, nearest, d,\n"
    "z_yield, pi, kept, w, identity_share, rel_delta (per targeted projection), and on the last\n"
    "block of each position next_top ([id, p] pairs) and entropy (README.md documents them).\n";
static const char* OPTS = "model adapter ids prompt n temp top-p seed threads mask-ratio mask-seed mask-refresh adapter-mode force adapter-layers ctx weights device out lens";

static const char* token_text(void* ctx, int id) {
    static char buf[256];
    return session_token_text(ctx, id, buf, sizeof buf);
}

int cmd_trace(int argc, char** argv) {
    Settings st;
    int done_status = settings_begin(&st, "trace", argc, argv, OPTS, USAGE);
    if (done_status >= 0) return done_status;
    Err err;
    if (!st.out) {
        fprintf(stderr, "trace: --out FILE.jsonl is required\n");
        settings_free(&st);
        return 2;
    }
    Session s;
    if (session_open(&s, &st, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        settings_free(&st);
        return 1;
    }
    int* ids = NULL;
    int n = 0, rc = 1;
    Sampler sm;
    sampler_init(&sm, s.model.cfg.vocab_size, st.temperature, st.top_p, st.seed);
    if (session_prompt_ids(&s, &st, &ids, &n, &err) || session_feed(&s, ids, n, &err)) goto done;
    // every token has its trace rows, EOS too
    Generation g;
    int produced;
    session_generation(&s, &g, &sm, st.n_new, GEN_EMIT_EOS | GEN_FEED_ALL);
    if (generation_run(&g, &produced, &err) == GEN_ERROR) goto done;
    if (trace_write_jsonl(&s.trace, st.out, 0, s.n_tokens, token_text, &s, &err)) goto done;
    fprintf(stderr, "wrote %d positions x %d blocks to %s\n", s.n_tokens, s.model.cfg.n_layers, st.out);
    rc = 0;
done:
    if (rc) fprintf(stderr, "%s\n", err.msg);
    sampler_free(&sm);
    free(ids);
    session_close(&s);
    settings_free(&st);
    return rc;
}
