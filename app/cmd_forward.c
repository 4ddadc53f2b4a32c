// cmd_forward.c: `slimscope forward`: one forward pass, logits dumped as float32 little-endian.
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "session.h"

static const char* USAGE =
    "usage: slimscope forward --model DIR (--ids 1,2,3 | --prompt TEXT) --dump-logits FILE [options]\n"
    "Runs one forward pass and writes the logits of the last position (or of every position with\n"
    "--all-positions, row by row) as float32 little-endian.\n";
static const char* OPTS = "model adapter ids prompt all-positions dump-logits threads mask-ratio mask-seed mask-refresh adapter-mode force adapter-layers ctx weights device";

int cmd_forward(int argc, char** argv) {
    Settings st;
    int done_status = settings_begin(&st, "forward", argc, argv, OPTS, USAGE);
    if (done_status >= 0) return done_status;
    Err err;
    Session s;
    int* ids = NULL;
    int n = 0, rc = 1;
    float* logits = NULL;
    if (!st.dump_logits) return settings_missing(&st, "forward: --dump-logits FILE is required");
    if (session_open_cmd(&s, &st)) return 1;
    if (session_prompt_ids(&s, &st, &ids, &n, &err)) goto done;
    int V = s.model.cfg.vocab_size;
    logits = xmalloc((size_t)(st.all_positions ? n : 1) * V * sizeof(float));
    if (forward(&s.model, s.has_adapter ? &s.adapter : NULL, &s.run, &s.rs, ids, n, 0, logits, st.all_positions, NULL, &err))
        goto done;
    if (write_file_atomic(st.dump_logits, logits, (size_t)(st.all_positions ? n : 1) * V * sizeof(float), &err)) goto done;
    fprintf(stderr, "wrote %d x %d logits to %s\n", st.all_positions ? n : 1, V, st.dump_logits);
    rc = 0;
done:
    if (rc) fprintf(stderr, "%s\n", err.msg);
    free(ids);
    free(logits);
    session_close(&s);
    settings_free(&st);
    return rc;
}
