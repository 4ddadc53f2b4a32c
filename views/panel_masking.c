// panel_masking.c: the masking ratio p ([ ] +-0.05, { } +-0.01, s new mask seed); for the selected
// position the top-5 next tokens under the base model, p = 0 and the current p with KL(p=0 || p)
// and KL(base || p); a chart of KL and top-1 agreement against p over 0..0.9, averaged over the
// whole context (computed in the background); and `g`: where the continuation regenerated at p
// first leaves the p = 0 one.
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "draw.h"

typedef struct {
    View super;
    int pos;
    float p;                   // p as asked for (may be ahead of the snapshot)
    uint64_t mask_seed;
    int fresh;                 // the comparison shown is for this position and p
    int stale;                 // the generated text (and `g`'s result) is from another run
} MaskingView;

static void masking_update(View* v, const Snapshot* s, const UiState* u) {
    MaskingView* m = (MaskingView*)v;
    m->pos = ui_sel_pos(u, s);
    m->p = u->p;
    m->mask_seed = u->mask_seed;
    m->fresh = s->n == 0 || (s->cmp_valid && s->cmp_pos == m->pos && fabsf(s->cmp_p - u->p) < 1e-6f && s->mask_seed == u->mask_seed);
    char why[256];
    m->stale = snapshot_gen_stale(s, u->p, u->mode, u->mask_seed, why, sizeof why);
}

// "'tok' 0.31" in at most w columns.
static void put_entry(Canvas* c, int row, int col, int w, const Snapshot* s, int id, float p, int color) {
    if (id < 0 || w < 6) return;
    char vb[32], tok[96], cell[128];
    token_display(tok, sizeof tok, snapshot_vocab(s, id, vb, sizeof vb));
    char prob[16];
    snprintf(prob, sizeof prob, " %.2f", p);
    int tw = w - (int)strlen(prob) - 2;
    if (tw < 1) tw = 1;
    snprintf(cell, sizeof cell, "'%s", tok);
    int col2 = canvas_putn(c, row, col, cell, tw + 1, color);
    col2 = canvas_put(c, row, col2, "'", color);
    canvas_put(c, row, col2, prob, color);
}

static void masking_draw(View* v, Canvas* c) {
    MaskingView* m = (MaskingView*)v;
    const Snapshot* s = v->snap;
    char info[160];
    snprintf(info, sizeof info, "p %.2f  mask seed %llu", m->p, (unsigned long long)m->mask_seed);
    draw_title(c, v, info);
    int y = v->y + 1, rows = v->h - 1, x = v->x, w = v->w;
    if (rows <= 0) return;
    if (!s->has_adapter) {
        canvas_putn(c, y, x, "no adapter loaded (:load DIR)", w, C_DIM);
        return;
    }
    int vc = m->fresh ? C_NORMAL : C_DIM;  // stale values are dimmed until the worker catches up
    // p line (and the KLs on it when wide)
    int col = canvas_printf(c, y, x, C_BOLD, "p %.2f", m->p);
    col = canvas_put(c, y, col, "  [ ] ±0.05  { } ±0.01  s seed", C_DIM);
    // the KLs are those of the cursor's next token: the line says which, as long as it fits
    char vals[96], kl[3][224], tok[64];
    if (s->cmp_valid) snprintf(vals, sizeof vals, "KL(p=0‖p) %.4f  KL(base‖p) %.4f", s->kl_p0, s->kl_base);
    else snprintf(vals, sizeof vals, "KL(p=0‖p) …  KL(base‖p) …");
    token_display(tok, sizeof tok, snapshot_label(s, m->pos));
    snprintf(kl[0], sizeof kl[0], "next after pos %d '%s': %s", m->pos, tok, vals);
    snprintf(kl[1], sizeof kl[1], "pos %d: %s", m->pos, vals);
    snprintf(kl[2], sizeof kl[2], "%s", vals);
    if (!m->fresh) canvas_put(c, y, col + 2, "computing…", C_BUSY);
    int line = 1, room = w - (col - x) - 2 - text_width("computing…  "), k0 = m->pos >= 0 ? 0 : 2;
    int merged = room >= text_width(kl[2]);  // the KLs fit on the p line, after "computing…"
    if (!merged) room = w;
    while (k0 < 2 && text_width(kl[k0]) > room) k0++;
    if (merged) canvas_put(c, y, x + w - text_width(kl[k0]), kl[k0], vc);
    else if (rows > 1) canvas_putn(c, y + line++, x, kl[k0], w, vc);
    int avail = rows - line - 1;  // header
    int chart = avail >= 3, regen = avail >= 4;
    int k = avail - chart - regen;
    if (k > TRACE_TOPK) k = TRACE_TOPK;
    if (k < 0) k = 0;
    if (avail >= 1 && m->pos >= 0) {
        int colw = (w - 1) / 3;
        int row = y + line++;
        canvas_put(c, row, x, "base", C_DIM);
        canvas_put(c, row, x + colw, "p=0", C_DIM);
        canvas_printf(c, row, x + 2 * colw, C_DIM, "p=%.2f", s->cmp_valid ? s->cmp_p : m->p);
        for (int i = 0; i < k; i++, line++) {
            row = y + line;
            if (!s->cmp_valid) {
                if (i == 0) canvas_put(c, row, x, "…", C_DIM);
                continue;
            }
            for (int j = 0; j < 3; j++) {
                int id = s->cmp_id[j][i];
                // highlight p's entries that differ from the p = 0 list at that rank
                int color = j == CMP_CUR && id != s->cmp_id[CMP_P0][i] ? C_LENS_DIFF : vc;
                put_entry(c, row, x + j * colw, colw - 1, s, id, s->cmp_prob[j][i], color);
            }
        }
    }
    if (chart) {
        int row = y + line++;
        // averaged over the context, unlike the KLs above (the cursor's token)
        col = canvas_put(c, row, x, w >= 78 ? "context mean over p 0..0.9: KL " : w >= 62 ? "ctx mean KL " : "mean KL ", C_DIM);
        int n = s->sweep_total;
        if (n == 0 || s->sweep_n == 0) {
            canvas_put(c, row, col, s->n ? "computing…" : "(needs a context)", C_DIM);
        } else {
            float kls[SWEEP_MAX], ag[SWEEP_MAX];
            double kmax = 0;
            int cur = 0;
            for (int i = 0; i < n; i++) {
                kls[i] = i < s->sweep_n ? (float)s->sweep_kl[i] : NAN;
                ag[i] = i < s->sweep_n ? (float)s->sweep_agree[i] : NAN;
                if (i < s->sweep_n && s->sweep_kl[i] > kmax) kmax = s->sweep_kl[i];
                if (fabsf(s->sweep_p[i] - m->p) < fabsf(s->sweep_p[cur] - m->p)) cur = i;
            }
            draw_sparkline(c, row, col, kls, n, 0, kmax > 0 ? kmax : 1, C_CHART_KL, cur, C_CHART_CUR);
            col = canvas_printf(c, row, col + n, C_DIM, " ≤%.3g top-1 ", kmax);
            draw_sparkline(c, row, col, ag, n, 0, 1, C_CHART_AGREE, cur, C_CHART_CUR);
            col += n;
            char tail[64] = "";
            if (s->sweep_n < n) snprintf(tail, sizeof tail, "%d/%d", s->sweep_n, n);
            else if (cur < s->sweep_n) snprintf(tail, sizeof tail, "@%.1f %.3f %.0f%%", s->sweep_p[cur], s->sweep_kl[cur], 100 * s->sweep_agree[cur]);
            if (col + 1 + text_width(tail) <= x + w) canvas_put(c, row, col + 1, tail, C_DIM);  // whole or not at all
        }
    }
    if (regen) {
        int row = y + line++;
        char a[64], b[64], vb[32];
        if (s->regen_state == 0) {
            canvas_printf(c, row, x, C_DIM, "g: regenerate at p %.2f and compare with p=0", m->p);
        } else if (s->regen_div >= 0) {
            int dp = s->regen_start + s->regen_div;
            const char* got = dp < s->n ? snapshot_label(s, dp) : "";
            const char* want = s->regen_div < s->regen_len ? snapshot_vocab(s, s->regen_p0[s->regen_div], vb, sizeof vb) : "(end)";
            canvas_printf(c, row, x, m->stale ? C_DIM : C_DIVERGE, "g: p %.2f leaves p=0 at +%d: '%s' vs '%s'", s->regen_p, s->regen_div,
                          token_display(a, sizeof a, got), token_display(b, sizeof b, want));
        } else {
            canvas_printf(c, row, x, s->regen_state == 1 || m->stale ? C_DIM : C_MESSAGE, "g: p %.2f same as p=0 for %d tokens%s", s->regen_p,
                          s->n - s->regen_start, s->regen_state == 1 ? " so far…" : "");
        }
    }
}

static const ViewClass MASKING_CLASS = {
    .name = "Masking",
    .keys_help = "[ ]  p -/+ 0.05 (on any panel)\n{ }  p -/+ 0.01\ns  new mask seed\ng  regenerate at p and show where it leaves the p = 0 continuation",
    .update = masking_update,
    .draw = masking_draw,
};

View* masking_view_new(void) { return view_alloc(sizeof(MaskingView), &MASKING_CLASS); }
