// cmd_trace.c: `slimscope trace`: generate from a prompt and write every routing decision as JSONL.
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "progress.h"
#include "session.h"

static int count_token(void* ctx, int k, int id) {
    progress_step(ctx, k + 1);
    return 0;
}

static const char* USAGE =
    "usage: slimscope trace --model DIR --adapter DIR (--prompt TEXT | --ids 1,2,3) -n N --out FILE.jsonl\n"
    "Writes a first line {\"settings\": {...}} (model, adapter, p, seeds, mode, forcing, sampling, version),\n"
    "then one JSON object per position and block: pos, token, source (prompt or generated), text, layer,\n"
    "routed, z, nearest, d, z_yield, pi, kept, w, identity_share, rel_delta (per targeted projection),\n"
    "and on the last block of each position next_top ([id, p] pairs) and entropy. --out - is stdout.\n";
static const char* OPTS = "model adapter ids prompt n temp top-p seed threads mask-ratio mask-seed mask-refresh adapter-mode force adapter-layers ctx weights device out lens";

int cmd_trace(int argc, char** argv) {
    Settings st;
    int done_status = settings_begin(&st, "trace", argc, argv, OPTS, USAGE);
    if (done_status >= 0) return done_status;
    Err err;
    if (!st.out) return settings_missing(&st, "trace: --out FILE.jsonl is required");
    Session s;
    if (session_open_cmd(&s, &st)) return 1;
    int* ids = NULL;
    int n = 0, rc = 1;
    Progress prog = {0};
    Sampler sm;
    sampler_init(&sm, s.model.cfg.vocab_size, st.temperature, st.top_p, st.seed);
    if (session_prompt_ids(&s, &st, &ids, &n, &err) || session_feed(&s, ids, n, &err)) goto done;
    // every token has its trace rows, EOS too
    Generation g;
    int produced;
    session_generation(&s, &g, &sm, st.n_new, GEN_EMIT_EOS | GEN_FEED_ALL);
    progress_begin(&prog, "trace", "tokens", st.n_new);
    g.on_token = count_token, g.ctx = &prog;
    GenEnd end = generation_run(&g, &produced, &err);
    progress_end(&prog);
    if (end == GEN_ERROR) goto done;
    if (end == GEN_FULL) session_report_full(&s, st.cmd, produced, st.n_new);
    SamplingSettings sampling = {st.temperature, st.top_p, st.seed, st.n_new};
    if (session_write_trace(&s, st.out, "trace", &sampling, &err)) goto done;
    fprintf(stderr, "wrote %d positions x %d blocks (after a settings line) to %s\n", s.n_tokens, s.model.cfg.n_layers,
            strcmp(st.out, "-") ? st.out : "standard output");
    rc = 0;
done:
    progress_end(&prog);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    sampler_free(&sm);
    free(ids);
    session_close(&s);
    settings_free(&st);
    return rc;
}
