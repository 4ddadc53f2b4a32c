// cmd_sweep.c: `slimscope sweep`: the masking ratio's effect on the next-token distributions of a
// prompt, as CSV: the batch form of the TUI's masking panel.
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "metrics.h"
#include "progress.h"
#include "session.h"

static const char* USAGE =
    "usage: slimscope sweep --model DIR --adapter DIR (--prompt TEXT | --ids ...) [--ratios 0,0.1,...,0.9] [--seeds K]\n"
    "Prints CSV: ratio, seed, kl_p0_p = KL(p=0 || p), kl_base_p = KL(base || p), top-1 agreement with p = 0\n"
    "and with the base model, and the mean identity share, each averaged over the prompt's positions.\n"
    "Seeds are mask_seed, mask_seed + 1, ...\n";
static const char* OPTS = "model adapter ids prompt threads mask-seed mask-refresh adapter-mode force adapter-layers ctx weights device ratios seeds";

int cmd_sweep(int argc, char** argv) {
    Settings st;
    int done_status = settings_begin(&st, "sweep", argc, argv, OPTS, USAGE);
    if (done_status >= 0) return done_status;
    Err err;
    if (!st.adapter_dir) return settings_missing(&st, "sweep: --adapter DIR is required");
    if (!st.n_ratios) {
        for (int i = 0; i < 10; i++) st.ratios[i] = i / 10.0f;
        st.n_ratios = 10;
    }
    Session s;
    if (session_open_cmd(&s, &st)) return 1;
    int* ids = NULL;
    int n = 0, rc = 1, V = s.model.cfg.vocab_size, L = s.model.cfg.n_layers;
    float *base = NULL, *p0 = NULL, *cur = NULL;
    Progress prog = {0};
    if (session_prompt_ids(&s, &st, &ids, &n, &err)) goto done;
    base = xmalloc((size_t)n * V * sizeof(float));
    p0 = xmalloc((size_t)n * V * sizeof(float));
    cur = xmalloc((size_t)n * V * sizeof(float));
    SlimRun* run = &s.run;
    uint64_t seed0 = run->mask_seed;
    // reference distributions: base model and the adapter at p = 0
    if (forward(&s.model, NULL, NULL, &s.rs, ids, n, 0, base, 1, NULL, &err)) goto done;
    run->mask_ratio = 0;
    if (session_apply_run(&s, &err) || forward(&s.model, &s.adapter, run, &s.rs, ids, n, 0, p0, 1, NULL, &err)) goto done;
    printf("ratio,seed,kl_p0_p,kl_base_p,top1_agree_p0,top1_agree_base,identity_share\n");
    progress_begin(&prog, "sweep", "runs", (long)st.n_ratios * st.seeds);
    for (int ri = 0; ri < st.n_ratios; ri++)
        for (int k = 0; k < st.seeds; k++) {
            progress_step(&prog, (long)ri * st.seeds + k);
            run->mask_ratio = st.ratios[ri];
            run->mask_seed = seed0 + k;
            trace_reset(&s.trace);
            if (session_apply_run(&s, &err) ||
                forward(&s.model, &s.adapter, run, &s.rs, ids, n, 0, cur, 1, &s.trace, &err))
                goto done;
            double kl0 = 0, klb = 0, agree0 = 0, agreeb = 0, ids_sum = 0;
            for (int t = 0; t < n; t++) {
                const float *c = cur + (size_t)t * V, *a = p0 + (size_t)t * V, *b = base + (size_t)t * V;
                kl0 += kl_logits(a, c, V);
                klb += kl_logits(b, c, V);
                int top = argmax(c, V);
                agree0 += top == argmax(a, V);
                agreeb += top == argmax(b, V);
                for (int l = 0; l < L; l++) ids_sum += s.trace.id_share[(size_t)t * L + l];
            }
            progress_end(&prog);  // on a terminal the row takes the progress line's place
            printf("%.4g,%llu,%.6g,%.6g,%.4f,%.4f,%.4f\n", st.ratios[ri], (unsigned long long)run->mask_seed, kl0 / n,
                   klb / n, agree0 / n, agreeb / n, ids_sum / ((double)n * L));
            fflush(stdout);
        }
    rc = 0;
done:
    progress_end(&prog);
    if (rc) fprintf(stderr, "%s\n", err.msg);
    free(base);
    free(p0);
    free(cur);
    free(ids);
    session_close(&s);
    settings_free(&st);
    return rc;
}
