// cmd_tui.c: `slimscope tui` (and `slimscope --model DIR ...` with no subcommand): opens the
// session, then hands it to the terminal UI (views/tui.c) until the user quits.
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "session.h"
#include "views/tui.h"

static const char* OPTS = "model adapter threads n temp top-p seed mask-ratio mask-seed mask-refresh adapter-mode force adapter-layers ctx weights device";

int cmd_tui(int argc, char** argv) {
    Settings st;
    int done_status = settings_begin(&st, "tui", argc, argv, OPTS,
        "usage: slimscope [tui] --model DIR [--adapter DIR] [options]\n"
        "Full-screen explorer: type a prompt, watch the routing, tune the masking ratio p.\n"
        "Press ? inside for every key and :command. History: $XDG_STATE_HOME/slimscope/history\n"
        "(or ~/.slimscope_history). NO_COLOR=1 disables colours.\n");
    if (done_status >= 0) return done_status;
    // No logit lens in the trace: it costs an lm_head product per block and token (a 110M model
    // decoded at a third of `generate`'s rate). The worker computes it for the selected position.
    st.lens = 0;
    Session s;
    if (session_open_cmd(&s, &st)) return 1;
    Tui* t = tui_new(&s, 0, 24, 80);
    t->ui.temp = st.temperature;
    t->ui.top_p = st.top_p;
    t->ui.n_new = st.n_new;
    t->ui.seed = st.seed;
    int rc = tui_run(t);
    tui_free(t);
    session_close(&s);
    settings_free(&st);
    return rc;
}
