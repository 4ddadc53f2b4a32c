// cmd_compare.c: `slimscope compare`: two adapters on the same text. Per position KL(A || B) of the
// next-token distributions and their top-1 tokens, per block how their routing differs, then a
// summary (app/session_compare.c computes it all).
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "session.h"

static const char* USAGE =
    "usage: slimscope compare --model DIR --adapter A --adapter B (--prompt TEXT | --file F | --ids ...)\n"
    "Per position of the text: KL(A || B) of the next-token distributions after it (nats), the top-1\n"
    "token of each ('top-1 differs' where they do), and per block the identity share and kept experts\n"
    "of each ('routing differs' where they do; a plain LoRA is one always-on expert: 'on'); then a\n"
    "summary. B runs under A's --mask-ratio, --mask-seed, --mask-refresh, --adapter-mode and\n"
    "--adapter-layers (p: A's mask_ratio unless given); --force applies to A.\n";
static const char* OPTS =
    "model adapter prompt file ids threads mask-ratio mask-seed mask-refresh adapter-mode force adapter-layers ctx weights device";

// A token's text on one line, quoted, with newline, tab and other control bytes escaped.
static const char* quoted(Session* s, int id, char* out, size_t n) {
    char text[256];
    session_token_text(s, id, text, sizeof text);
    size_t o = 0;
    out[o++] = '\'';
    for (const unsigned char* p = (const unsigned char*)text; *p && o + 6 < n; p++) {
        if (*p == '\n') o += snprintf(out + o, n - o, "\\n");
        else if (*p == '\t') o += snprintf(out + o, n - o, "\\t");
        else if (*p < 0x20 || *p == 0x7f) o += snprintf(out + o, n - o, "\\x%02X", *p);
        else out[o++] = (char)*p;
    }
    out[o++] = '\'';
    out[o] = 0;
    return out;
}

static const char* adapter_kind(const Adapter* a, char* buf, size_t n) {
    if (a->type == ADAPTER_SLIM) snprintf(buf, n, "SLIM %d id + %d LoRA, top-%d", a->n_id, a->n_lora, a->top_k);
    else snprintf(buf, n, "plain LoRA, one always-on expert");
    return buf;
}

static void print_comparison(Session* s, const Comparison* c, const char* dir_a, const char* dir_b) {
    int n = c->n, L = s->model.cfg.n_layers;
    char ka[96], kb[96], ta[300], tb[300], tt[300];
    printf("compare: A %s (%s), B %s (%s); p %.2f, mask seed %llu, mode %s; %d positions, KL(A||B) in nats\n", dir_a,
           adapter_kind(&s->adapter, ka, sizeof ka), dir_b, adapter_kind(&s->cmp, kb, sizeof kb), s->run.mask_ratio,
           (unsigned long long)s->run.mask_seed, adapter_mode_name(s->run.mode), n);
    double kl_sum = 0;
    int top_diff = 0, route_diff = 0;
    int* blk_diff = xcalloc(L, sizeof(int));
    double *blk_a = xcalloc(L, sizeof(double)), *blk_b = xcalloc(L, sizeof(double));
    for (int t = 0; t < n; t++) {
        int differs = c->top_a[t] != c->top_b[t];
        kl_sum += c->kl[t];
        top_diff += differs;
        printf("pos %d %s  KL %.6f  top-1 A %s B %s%s\n", t, quoted(s, s->tokens[t], tt, sizeof tt), c->kl[t],
               quoted(s, c->top_a[t], ta, sizeof ta), quoted(s, c->top_b[t], tb, sizeof tb), differs ? "  top-1 differs" : "");
        for (int l = 0; l < L; l++) {
            BlockDiff d;
            compare_block(&s->trace, &c->tb, t, l, &d);
            blk_diff[l] += d.differs;
            route_diff += d.differs;
            blk_a[l] += d.share_a;
            blk_b[l] += d.share_b;
            printf("  blk %d  id-share A %.2f B %.2f  kept A %s B %s%s\n", l, d.share_a, d.share_b, d.kept_a, d.kept_b,
                   d.differs ? "  routing differs" : "");
        }
    }
    for (int l = 0; l < L; l++)
        printf("blk %d: mean id-share A %.2f B %.2f; routing differs at %d of %d positions\n", l, blk_a[l] / n, blk_b[l] / n,
               blk_diff[l], n);
    printf("summary: mean KL(A||B) %.6f over %d positions; top-1 differs at %d of %d positions", kl_sum / n, n, top_diff, n);
    for (int t = 0, k = 0; t < n; t++)
        if (c->top_a[t] != c->top_b[t]) printf("%s%d", k++ ? " " : " (", t);
    printf("%s; routing differs at %d of %d block-positions\n", top_diff ? ")" : "", route_diff, n * L);
    free(blk_diff);
    free(blk_a);
    free(blk_b);
}

int cmd_compare(int argc, char** argv) {
    Settings st;
    int done_status = settings_begin(&st, "compare", argc, argv, OPTS, USAGE);
    if (done_status >= 0) return done_status;
    if (st.n_adapters != 2) return settings_missing(&st, "compare: --adapter is expected twice (--adapter A --adapter B)");
    if (!st.prompt + !st.prompt_file + !st.n_ids != 2)
        return settings_missing(&st, "compare: give the text with one of --prompt TEXT, --file F, --ids 1,2,3");
    const char *dir_a = st.adapter_dirs[0], *dir_b = st.adapter_dirs[1];
    st.adapter_dir = dir_a;
    Session s;
    if (session_open_cmd(&s, &st)) return 1;
    Err err;
    int* ids = NULL;
    int n = 0, rc = 1;
    Comparison c = {0};
    if (session_compare_open(&s, dir_b, &err) || session_prompt_ids(&s, &st, &ids, &n, &err) ||
        session_feed(&s, ids, n, &err) || session_compare_context(&s, &c, &err))
        goto done;
    print_comparison(&s, &c, dir_a, dir_b);
    rc = 0;
done:
    if (rc) fprintf(stderr, "%s\n", err.msg);
    comparison_free(&c);
    free(ids);
    session_close(&s);
    settings_free(&st);
    return rc;
}
