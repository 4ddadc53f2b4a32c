// report_html.c: the report page: the settings line, tokens x blocks heat maps of the identity
// share and of the kept experts, d against the identity threshold per block, and what the trace
// says about KL vs p. One file: inline CSS and SVG, no script, no reference outside the page.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "report.h"

#define CW 14        // heat-map cell, px
#define LEFT 64      // room for the block labels
#define TOP 86       // room for the token labels (rotated)
#define DIST_H 96    // height of one block's distance chart

void html_escape(FILE* f, const char* s) {
    for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        case '\n': fputs("\u21b5", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                fputs("\ufffd", f);
            } else if (*p >= 0x80) {  // a whole valid UTF-8 character, or U+FFFD for this byte
                utf8proc_int32_t cp;
                utf8proc_ssize_t len = utf8proc_iterate(p, -1, &cp);
                if (len > 0) fwrite(p, 1, len, f), p += len - 1;
                else fputs("\ufffd", f);
            } else {
                fputc(*p, f);
            }
        }
    }
}

void report_colour(float v, char out[8]) {
    static const int stops[3][3] = {{217, 95, 2}, {247, 247, 247}, {44, 123, 182}};
    if (isnan(v)) {
        strcpy(out, "#cccccc");
        return;
    }
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    int k = v < 0.5f ? 0 : 1;
    double t = (v - 0.5 * k) * 2;
    int c[3];
    for (int i = 0; i < 3; i++) c[i] = (int)lround(stops[k][i] + (stops[k + 1][i] - stops[k][i]) * t);
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

// LoRA expert k: Tableau 10; identity expert k: greys.
static const char* expert_colour(const char* name) {
    static const char* lora[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#17becf"};
    static const char* ident[] = {"#3a3a3a", "#6b6b6b", "#8f8f8f", "#b3b3b3"};
    if (name[0] == 'i') return ident[atoi(name + 1) % 4];
    return lora[atoi(name) % 10];
}

static const ReportCell* cell(const Report* r, int p, int l) { return &r->cell[(size_t)p * r->n_layers + l]; }

static void token_labels(const Report* r, FILE* f) {
    for (int p = 0; p < r->n_pos; p++) {
        int x = LEFT + p * CW + CW / 2 + 4;
        fprintf(f, "<text class=\"tok%s\" x=\"%d\" y=\"%d\" transform=\"rotate(-60 %d %d)\">", r->generated[p] ? " gen" : "",
                x, TOP - 4, x, TOP - 4);
        html_escape(f, r->text[p]);
        fputs("</text>\n", f);
    }
}

static void block_labels(const Report* r, FILE* f) {
    for (int l = 0; l < r->n_layers; l++)
        fprintf(f, "<text class=\"blk\" x=\"%d\" y=\"%d\">block %d</text>\n", LEFT - 6, TOP + l * CW + CW - 3, l);
}

// The prompt / generated boundary as a line across the grid.
static void boundary(const Report* r, FILE* f, int y0, int y1) {
    for (int p = 1; p < r->n_pos; p++)
        if (r->generated[p] && !r->generated[p - 1])
            fprintf(f, "<line class=\"boundary\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", LEFT + p * CW, y0,
                    LEFT + p * CW, y1);
}

static void cell_title(const Report* r, FILE* f, int p, int l, const ReportCell* c) {
    fprintf(f, "<title>pos %d \u00ab", p);
    html_escape(f, r->text[p]);
    fprintf(f, "\u00bb block %d: identity share %.2f", l, c->id_share);
    if (c->kept) {
        fputs(", kept ", f);
        html_escape(f, c->kept[0] ? c->kept : "none");
        fprintf(f, ", d %.3g", c->d);
    } else {
        fputs(c->id_share == 0 ? ", no router (adapter always on)" : ", no router (adapter off)", f);
    }
    fputs("</title>", f);
}

// One tokens x blocks map; kind 0: identity share, 1: the dominant kept expert.
static void heat_map(const Report* r, FILE* f, int kind) {
    int w = LEFT + r->n_pos * CW + 8, h = TOP + r->n_layers * CW + 4;
    fprintf(f, "<div class=\"scroll\"><svg class=\"heatmap\" id=\"%s\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            kind ? "kept-experts" : "identity-share", w, h, w, h);
    token_labels(r, f);
    block_labels(r, f);
    for (int p = 0; p < r->n_pos; p++)
        for (int l = 0; l < r->n_layers; l++) {
            const ReportCell* c = cell(r, p, l);
            char fill[8];
            const char* colour = fill;
            if (!kind) report_colour(c->id_share, fill);
            else if (c->dominant[0]) colour = expert_colour(c->dominant);
            else colour = c->routed ? "#ffffff" : c->id_share == 0 ? expert_colour("0") : "#ffffff";
            fprintf(f, "<rect class=\"cell %s\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\">", kind ? "kept" : "share",
                    LEFT + p * CW, TOP + l * CW, CW, CW, colour);
            cell_title(r, f, p, l, c);
            fputs("</rect>\n", f);
        }
    boundary(r, f, TOP - 2, h - 2);
    fputs("</svg></div>\n", f);
}

static void share_legend(FILE* f) {
    fputs("<svg class=\"legend\" width=\"360\" height=\"34\" viewBox=\"0 0 360 34\">\n", f);
    for (int i = 0; i <= 20; i++) {
        char c[8];
        report_colour(i / 20.0f, c);
        fprintf(f, "<rect x=\"%d\" y=\"2\" width=\"12\" height=\"14\" fill=\"%s\"/>", 60 + i * 12, c);
    }
    fputs("\n<text x=\"56\" y=\"13\" class=\"blk\">0</text><text x=\"316\" y=\"13\">1</text>"
          "<text x=\"60\" y=\"30\">LoRA experts take the weight</text><text x=\"312\" y=\"30\" class=\"blk\">adapter bypassed</text>\n"
          "</svg>\n", f);
}

// identity experts first, then LoRA experts, each by number
static int name_order(const void* a, const void* b) {
    const char *x = a, *y = b;
    if ((x[0] == 'i') != (y[0] == 'i')) return x[0] == 'i' ? -1 : 1;
    return atoi(x + (x[0] == 'i')) - atoi(y + (y[0] == 'i'));
}

static void kept_legend(const Report* r, FILE* f) {
    char seen[64][8];
    int n = 0;
    for (size_t i = 0; i < (size_t)r->n_pos * r->n_layers && n < 64; i++) {
        const char* d = r->cell[i].dominant;
        int k = 0;
        while (k < n && strcmp(seen[k], d)) k++;
        if (d[0] && k == n) strcpy(seen[n++], d);
    }
    qsort(seen, n, sizeof seen[0], name_order);
    fputs("<p class=\"legend\">", f);
    for (int k = 0; k < n; k++)
        fprintf(f, "<span class=\"swatch\" style=\"background:%s\"></span>%s%s &nbsp; ", expert_colour(seen[k]),
                seen[k][0] == 'i' ? "identity " : "LoRA ", seen[k]);
    int off = 0, plain = 0;  // cells without a router decision: adapter off, or a plain LoRA
    for (size_t i = 0; i < (size_t)r->n_pos * r->n_layers; i++)
        if (!r->cell[i].dominant[0]) {
            if (!r->cell[i].routed && r->cell[i].id_share == 0) plain = 1;
            else off = 1;
        }
    if (plain) fprintf(f, "<span class=\"swatch\" style=\"background:%s\"></span>plain LoRA (always on) &nbsp; ", expert_colour("0"));
    if (off) fputs("<span class=\"swatch\" style=\"background:#ffffff\"></span>adapter off at the block", f);
    fputs("</p>\n", f);
}

// The y of value v on a chart of DIST_H px spanning [lo, hi].
static double chart_y(double v, double lo, double hi) { return 8 + (DIST_H - 16) * (hi - v) / (hi - lo); }

static void path_of(FILE* f, const Report* r, int l, int which, double lo, double hi, const char* cls) {
    fprintf(f, "<path class=\"%s\" d=\"", cls);
    int pen = 0;
    for (int p = 0; p < r->n_pos; p++) {
        const ReportCell* c = cell(r, p, l);
        double v = which ? c->win_d : c->d;
        if (!isfinite(v)) {
            pen = 0;
            continue;
        }
        v = v < lo ? lo : v > hi ? hi : v;  // a value off the chart sits on its edge
        fprintf(f, "%c%d %.1f ", pen ? 'L' : 'M', LEFT + p * CW + CW / 2, chart_y(v, lo, hi));
        pen = 1;
    }
    fputs("\"/>\n", f);
}

static int by_value(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

// The chart's range: d's, less far outliers (beyond 3 times the 5-95% range past it; they sit on
// the edge, a token such as the first one can lie at d ~ 1000), widened by the thresholds that lie
// within one span of it. Returns 0 when the block has no d.
static int distance_scale(const Report* r, int l, double* lo_out, double* hi_out) {
    double* v = xmalloc(r->n_pos * sizeof(double));
    int m = 0;
    for (int p = 0; p < r->n_pos; p++)
        if (isfinite(cell(r, p, l)->d)) v[m++] = cell(r, p, l)->d;
    if (!m) {
        free(v);
        return 0;
    }
    qsort(v, m, sizeof(double), by_value);
    double q05 = v[(m - 1) * 5 / 100], q95 = v[(m - 1) * 95 / 100], core = fmax(q95 - q05, 0.5);
    double lo = fmax(v[0], q05 - 3 * core), hi = fmin(v[m - 1], q95 + 3 * core);
    free(v);
    double span = fmax(hi - lo, 0.5), lo0 = lo, hi0 = hi;
    for (int p = 0; p < r->n_pos; p++) {
        double t = cell(r, p, l)->win_d;
        if (t > hi && t < hi0 + span) hi = t;
        if (t < lo && t > lo0 - span) lo = t;
    }
    *lo_out = lo - 0.05 * span, *hi_out = hi + 0.05 * span;
    return 1;
}

static void distance_chart(const Report* r, FILE* f, int l) {
    double lo, hi;
    if (!distance_scale(r, l, &lo, &hi)) {
        fprintf(f, "<p>block %d: no router here, no distance.</p>\n", l);
        return;
    }
    int any_win = 0;
    for (int p = 0; p < r->n_pos; p++) any_win |= isfinite(cell(r, p, l)->win_d);
    int w = LEFT + r->n_pos * CW + 8;
    fprintf(f, "<div class=\"scroll\"><svg class=\"dist\" id=\"distance-%d\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", l,
            w, DIST_H, w, DIST_H);
    fprintf(f, "<rect class=\"frame\" x=\"%d\" y=\"4\" width=\"%d\" height=\"%d\"/>\n", LEFT, r->n_pos * CW, DIST_H - 8);
    fprintf(f, "<text class=\"blk\" x=\"%d\" y=\"14\">%.2f</text><text class=\"blk\" x=\"%d\" y=\"%d\">%.2f</text>"
               "<text class=\"blk\" x=\"%d\" y=\"%d\">block %d</text>\n",
            LEFT - 6, hi, LEFT - 6, DIST_H - 6, lo, LEFT - 6, DIST_H / 2 + 4, l);
    boundary(r, f, 4, DIST_H - 4);
    path_of(f, r, l, 1, lo, hi, "threshold");
    path_of(f, r, l, 0, lo, hi, "d-line");
    for (int p = 0; p < r->n_pos; p++) {
        const ReportCell* c = cell(r, p, l);
        if (!isfinite(c->d)) continue;
        int wins = isfinite(c->win_d) && c->d >= c->win_d, off = c->d < lo || c->d > hi;
        fprintf(f, "<circle class=\"d-pt%s%s\" cx=\"%d\" cy=\"%.1f\" r=\"2.5\"><title>pos %d block %d: d %.3g%s, identity threshold ",
                wins ? " id-wins" : "", off ? " off-scale" : "", LEFT + p * CW + CW / 2, chart_y(fmin(fmax(c->d, lo), hi), lo, hi),
                p, l, c->d, off ? " (off the scale)" : "");
        if (isfinite(c->win_d)) fprintf(f, "%.3g", c->win_d);
        else fputs("none", f);
        fputs("</title></circle>\n", f);
    }
    fputs("</svg></div>\n", f);
    if (!any_win) fprintf(f, "<p class=\"note\">block %d: no identity threshold (the yield does not move the identity experts here).</p>\n", l);
}

#define KL_W 520
#define KL_H 220
#define KL_L 56  // room for the KL labels

static double kl_x(double p, double p_max) { return KL_L + (KL_W - KL_L - 16) * p / p_max; }
static double kl_y(double v, double v_max) { return 10 + (KL_H - 40) * (1 - v / v_max); }

// One line of the means over the seeds at each p (the rows of one p need not be adjacent).
static void kl_means(const Report* r, FILE* f, int base, double p_max, double v_max, const char* cls) {
    fprintf(f, "<path class=\"%s\" d=\"", cls);
    double done = -1;
    for (int pass = 0; pass < r->n_sweep; pass++) {
        double next = INFINITY;  // the smallest p above the last one drawn
        for (int i = 0; i < r->n_sweep; i++)
            if (r->sweep[i].p > done && r->sweep[i].p < next) next = r->sweep[i].p;
        if (!isfinite(next)) break;
        double sum = 0;
        int m = 0;
        for (int i = 0; i < r->n_sweep; i++)
            if (r->sweep[i].p == next) sum += base ? r->sweep[i].kl_base : r->sweep[i].kl_p0, m++;
        fprintf(f, "%c%.1f %.1f ", done < 0 ? 'M' : 'L', kl_x(next, p_max), kl_y(sum / m, v_max));
        done = next;
    }
    fputs("\"/>\n", f);
}

static void kl_chart(const Report* r, FILE* f) {
    double p_max = 0.9, v_max = 0;
    for (int i = 0; i < r->n_sweep; i++) {
        p_max = fmax(p_max, r->sweep[i].p);
        v_max = fmax(v_max, fmax(r->sweep[i].kl_p0, r->sweep[i].kl_base));
    }
    v_max = v_max > 0 ? v_max * 1.05 : 1;
    fputs("<p>From ", f);
    html_escape(f, r->sweep_path);
    fputs(" (<code>slimscope sweep</code>): each point one mask seed, the lines the mean over the seeds; "
          "solid KL(p=0 \u2016 p), dashed KL(base \u2016 p), averaged over the prompt's positions.</p>\n", f);
    fprintf(f, "<svg class=\"kl\" id=\"kl-vs-p\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", KL_W, KL_H, KL_W, KL_H);
    fprintf(f, "<rect class=\"frame\" x=\"%d\" y=\"10\" width=\"%d\" height=\"%d\"/>\n", KL_L, KL_W - KL_L - 16, KL_H - 40);
    fprintf(f, "<text class=\"blk\" x=\"%d\" y=\"18\">%.3g</text><text class=\"blk\" x=\"%d\" y=\"%d\">0</text>\n",
            KL_L - 4, v_max, KL_L - 4, KL_H - 30);
    for (int t = 0; t <= 10 && t / 10.0 <= p_max + 1e-9; t++)
        fprintf(f, "<text x=\"%.1f\" y=\"%d\">%.1f</text>", kl_x(t / 10.0, p_max) - 6, KL_H - 16, t / 10.0);
    fprintf(f, "<text x=\"%d\" y=\"%d\">p</text>\n", KL_W / 2, KL_H - 2);
    if (isfinite(r->mask_ratio))  // the trace's own p
        fprintf(f, "<line class=\"boundary\" x1=\"%.1f\" y1=\"10\" x2=\"%.1f\" y2=\"%d\"><title>this trace: p = %g</title></line>\n",
                kl_x(r->mask_ratio, p_max), kl_x(r->mask_ratio, p_max), KL_H - 30, r->mask_ratio);
    kl_means(r, f, 0, p_max, v_max, "kl-line");
    kl_means(r, f, 1, p_max, v_max, "klb-line");
    for (int i = 0; i < r->n_sweep; i++) {
        const SweepRow* s = &r->sweep[i];
        fprintf(f, "<circle class=\"kl-pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\"><title>p %g: KL(p=0 \u2016 p) %.4g, "
                   "KL(base \u2016 p) %.4g, top-1 agreement with p = 0 %.2f</title></circle>\n",
                kl_x(s->p, p_max), kl_y(s->kl_p0, v_max), s->p, s->kl_p0, s->kl_base, s->agree_p0);
        fprintf(f, "<circle class=\"klb-pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"2\"/>\n", kl_x(s->p, p_max), kl_y(s->kl_base, v_max));
    }
    fputs("</svg>\n", f);
}

static const char* STYLE =
    "body{font:14px/1.4 sans-serif;margin:1.5em;color:#222;background:#fff}"
    "h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}"
    ".settings{font-family:monospace;background:#f4f4f4;padding:.5em;word-break:break-word}"
    ".scroll{overflow-x:auto}svg text{font:10px sans-serif;fill:#333}"
    "text.blk{text-anchor:end}text.tok.gen{font-style:italic;fill:#7a3b00}"
    ".boundary{stroke:#000;stroke-width:1.5;stroke-dasharray:3 2}"
    ".frame{fill:none;stroke:#bbb}.d-line{fill:none;stroke:#2c7bb6;stroke-width:1.5}"
    ".threshold{fill:none;stroke:#d95f02;stroke-width:1.5;stroke-dasharray:5 3}"
    ".d-pt{fill:#2c7bb6}.d-pt.id-wins{fill:#fff;stroke:#2c7bb6;stroke-width:1.5}.d-pt.off-scale{stroke:#c00;stroke-width:2}"
    ".swatch{display:inline-block;width:12px;height:12px;border:1px solid #999;margin-right:4px;vertical-align:middle}"
    ".kl-line{fill:none;stroke:#d95f02;stroke-width:1.5}.klb-line{fill:none;stroke:#555;stroke-width:1.5;stroke-dasharray:5 3}"
    ".kl-pt{fill:#d95f02}.klb-pt{fill:#555}"
    ".missing,.note{color:#555;font-style:italic}";

int report_write_html(const Report* r, FILE* f) {
    fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
               "<title>slimscope routing report</title>\n<style>%s</style>\n</head>\n<body>\n"
               "<h1>slimscope routing report</h1>\n<p class=\"settings\">",
            STYLE);
    html_escape(f, r->settings ? r->settings : "no settings line in this trace (written before slimscope recorded them)");
    fprintf(f, "</p>\n<p>%d positions (%d prompt, %d generated; generated tokens in italics, right of the dashed line) "
               "x %d blocks; %d experts",
            r->n_pos, r->n_pos - r->n_generated, r->n_generated, r->n_layers, r->n_experts);
    if (r->n_id) fprintf(f, ", %d of them identity experts", r->n_id);
    fputs(". Hover a cell for its values.</p>\n", f);

    fputs("<h2>Identity share per token and block</h2>\n<p>The weight the router gave the identity experts "
          "(1 where the adapter is off at the block).</p>\n", f);
    heat_map(r, f, 0);
    share_legend(f);

    fputs("<h2>Kept experts per token and block</h2>\n<p>Colour: the kept (top-k) expert with the largest "
          "weight; LoRA experts are named 0, 1, ..., identity experts i0, i1, ...</p>\n", f);
    heat_map(r, f, 1);
    kept_legend(r, f);

    fputs("<h2>Distance d against the identity threshold, per block</h2>\n<p>Solid: the cluster distance d of "
          "each token; dashed: the d at which the yield makes an identity expert the router's top-1. Hollow "
          "points: d past the threshold, identity wins; red-rimmed: d off the scale, drawn at its edge.</p>\n", f);
    for (int l = 0; l < r->n_layers; l++) distance_chart(r, f, l);

    fputs("<h2>KL vs p</h2>\n", f);
    if (r->n_sweep) {
        kl_chart(r, f);
    } else {
        fputs("<p class=\"missing\">This trace holds no KL vs p: a trace is computed at one masking ratio", f);
        if (isfinite(r->mask_ratio)) fprintf(f, " (p = %g here)", r->mask_ratio);
        fputs(". <code>slimscope sweep</code> with the same settings writes it as CSV; "
              "<code>slimscope report --sweep FILE.csv</code> draws it here.</p>\n", f);
    }
    fputs("</body>\n</html>\n", f);
    return ferror(f) ? -1 : 0;
}
