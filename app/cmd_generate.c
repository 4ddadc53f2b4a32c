// cmd_generate.c: `slimscope generate`: prompt in, sampled continuation out (text, or ids).
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "session.h"

static const char* USAGE =
    "usage: slimscope generate --model DIR (--prompt TEXT | --ids 1,2,3) [-n N] [options]\n"
    "Prints the continuation as text when the model has a tokenizer (ids with --ids and none),\n"
    "and a summary line (tokens/s) on stderr.\n";
static const char* OPTS = "model adapter ids prompt n temp top-p seed threads mask-ratio mask-seed mask-refresh adapter-mode force adapter-layers ctx weights device";

// Prints each generated token: its text (complete UTF-8 characters) or its id.
typedef struct {
    int as_text;
    TokenStream ts;
} Printer;

static int print_token(void* ctx, int k, int id) {
    Printer* p = ctx;
    if (p->as_text) {
        size_t len;
        const char* piece = token_stream_push(&p->ts, id, &len);
        fwrite(piece, 1, len, stdout);
    } else {
        printf("%s%d", k ? "," : "", id);
    }
    fflush(stdout);
    return 0;
}

int cmd_generate(int argc, char** argv) {
    Settings st;
    int done_status = settings_begin(&st, "generate", argc, argv, OPTS, USAGE);
    if (done_status >= 0) return done_status;
    Err err;
    Session s;
    if (session_open_cmd(&s, &st)) return 1;
    s.untraced = 1;  // generate prints only the continuation: no routing trace to fill
    int* ids = NULL;
    int n = 0, rc = 1;
    Sampler sm;
    sampler_init(&sm, s.model.cfg.vocab_size, st.temperature, st.top_p, st.seed);
    Printer pr = {s.has_tok && !st.n_ids};
    if (pr.as_text) token_stream_init(&pr.ts, &s.tok, 1);
    if (session_prompt_ids(&s, &st, &ids, &n, &err)) goto done;
    double t0 = now_seconds();
    if (session_feed(&s, ids, n, &err)) goto done;
    double t1 = now_seconds();
    int produced = 0;
    if (pr.as_text) {
        char* p = tokenizer_decode(&s.tok, ids, n, 1);
        fputs(p, stdout);
        free(p);
    }
    // EOS is printed like any token; neither it nor the last token is fed
    Generation g;
    session_generation(&s, &g, &sm, st.n_new, GEN_EMIT_EOS);
    g.on_token = print_token, g.ctx = &pr;
    GenEnd end = generation_run(&g, &produced, &err);
    if (end == GEN_ERROR) goto done;
    if (pr.as_text) {
        size_t len;
        const char* tail = token_stream_flush(&pr.ts, &len);
        fwrite(tail, 1, len, stdout);
    }
    printf("\n");
    if (end == GEN_FULL) session_report_full(&s, st.cmd, produced, st.n_new);
    double t2 = now_seconds();
    fprintf(stderr, "[%d prompt tokens in %.3f s, %d generated at %.1f tokens/s, %d threads]\n", n, t1 - t0, produced,
            produced > 1 ? (produced - 1) / (t2 - t1) : 0.0, s.threads);
    rc = 0;
done:
    if (rc) fprintf(stderr, "%s\n", err.msg);
    if (pr.as_text) token_stream_free(&pr.ts);
    sampler_free(&sm);
    free(ids);
    session_close(&s);
    settings_free(&st);
    return rc;
}
