// draw.c: shared drawing bits (see draw.h).
#include "draw.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void draw_title(Canvas* c, const View* v, const char* info) {
    int color = v->focused ? C_TITLE_FOCUS : C_TITLE;
    canvas_fill(c, v->y, v->x, v->w, ' ', color);
    int col = canvas_put(c, v->y, v->x, v->focused ? "▶ " : "  ", color);
    col = canvas_put(c, v->y, col, v->klass->name, color);
    if (info && *info) canvas_putn(c, v->y, col + 2, info, v->x + v->w - col - 2, color);
}

void draw_title_fit(Canvas* c, const View* v, const char* const* infos, int n, const char* tag) {
    int tw = tag && *tag && text_width(tag) < v->w ? text_width(tag) : 0;
    int room = v->w - 4 - text_width(v->klass->name) - tw;
    int k = 0;
    while (k < n - 1 && text_width(infos[k]) > room) k++;
    draw_title(c, v, infos[k]);
    if (tw) canvas_put(c, v->y, v->x + v->w - tw, tag, C_BUSY);
}

char* block_window_tag(char* buf, size_t n, int l0, int shown, int L) {
    buf[0] = 0;
    if (shown < L && shown > 0)
        snprintf(buf, n, " blk %d-%d/%d %s ", l0, l0 + shown - 1, L, l0 == 0 ? "↓" : l0 + shown >= L ? "↑" : "↑↓");
    return buf;
}

int bar_col(int width, double value, double lo, double hi) {
    if (!(hi > lo)) return 0;
    double f = (value - lo) / (hi - lo);
    if (!(f >= 0)) f = 0;
    if (f > 1) f = 1;
    int k = (int)floor(f * width);
    return k >= width ? width - 1 : k;
}

void draw_hbar(Canvas* c, int row, int col, int width, double value, double lo, double hi, int color) {
    static const uint32_t EIGHTHS[] = {0, 0x258F, 0x258E, 0x258D, 0x258C, 0x258B, 0x258A, 0x2589};
    if (width <= 0 || !(hi > lo)) return;
    double f = (value - lo) / (hi - lo);
    if (!(f >= 0)) f = 0;
    if (f > 1) f = 1;
    int units = (int)lround(f * width * 8);
    int full = units / 8, rest = units % 8;
    canvas_fill(c, row, col, full, 0x2588, color);
    if (rest && full < width) canvas_put_char(c, row, col + full, EIGHTHS[rest], color);
    int used = full + (rest ? 1 : 0);
    canvas_fill(c, row, col + used, width - used, 0x2500, C_DIM);  // thin track ─ shows the scale
}

int heat_color(double v) {
    if (!(v >= 0)) v = 0;
    if (v > 1) v = 1;
    int k = (int)(v * 8);
    return C_HEAT_0 + (k > 7 ? 7 : k);
}

// The shades and where each starts: · below 0.02, then ░ ▒ ▓ █ from 0.02, 0.25, 0.5, 0.75.
static const uint32_t HEAT_GLYPH[] = {0x00B7, 0x2591, 0x2592, 0x2593, 0x2588};
static const double HEAT_FROM[] = {0, 0.02, 0.25, 0.5, 0.75};
#define HEAT_STEPS 5

uint32_t heat_glyph(double v) {
    if (!(v >= 0)) v = 0;
    int k = 0;
    while (k + 1 < HEAT_STEPS && v >= HEAT_FROM[k + 1]) k++;
    return HEAT_GLYPH[k];
}

int draw_heat_legend(Canvas* c, int row, int col, int width) {
    char part[HEAT_STEPS][48];
    int total = 0;
    for (int k = 0; k < HEAT_STEPS; k++) {
        char g[8], num[16];
        g[utf8_encode(HEAT_GLYPH[k], g)] = 0;
        double to = k + 1 < HEAT_STEPS ? HEAT_FROM[k + 1] : 1;
        snprintf(num, sizeof num, "%g", to);
        // ".25" rather than "0.25": the scale is short enough to read at a glance
        snprintf(part[k], sizeof part[k], "%s%s%s%s", k ? " " : "", g, k + 1 < HEAT_STEPS ? "<" : "≤", num[0] == '0' ? num + 1 : num);
        total += text_width(part[k]);
    }
    if (total > width) return col;
    for (int k = 0; k < HEAT_STEPS; k++) {
        double mid = k + 1 < HEAT_STEPS ? (HEAT_FROM[k] + HEAT_FROM[k + 1]) / 2 : 0.9;
        col = canvas_put(c, row, col, part[k], heat_color(mid));
    }
    return col;
}

void draw_heat_cell(Canvas* c, int row, int col, int width, double v) {
    canvas_fill(c, row, col, width, heat_glyph(v), heat_color(v));
}

uint32_t spark_glyph(double v) {
    if (!(v >= 0)) v = 0;
    if (v > 1) v = 1;
    int k = (int)lround(v * 7);
    return 0x2581 + (uint32_t)k;
}

void draw_sparkline(Canvas* c, int row, int col, const float* vals, int n, double lo, double hi, int color, int sel,
                    int sel_color) {
    if (n <= 0) return;
    if (!(hi > lo)) {
        lo = INFINITY;
        hi = -INFINITY;
        for (int i = 0; i < n; i++)
            if (isfinite(vals[i])) {
                lo = vals[i] < lo ? vals[i] : lo;
                hi = vals[i] > hi ? vals[i] : hi;
            }
        if (!(hi > lo)) hi = lo + 1;
    }
    for (int i = 0; i < n; i++) {
        uint32_t g = isfinite(vals[i]) ? spark_glyph((vals[i] - lo) / (hi - lo)) : ' ';
        canvas_put_char(c, row, col + i, g, i == sel ? sel_color : color);
    }
}

int share_color(double share) {
    if (!(share >= 0)) share = 0;
    if (share > 1) share = 1;
    int k = (int)lround(share * 4);
    return C_SHARE_0 + k;
}

int expert_color(int k) { return C_EXPERT_0 + (k < 0 ? 0 : k % 6); }

char expert_char(int k) {
    if (k < 0) return '?';
    if (k < 10) return (char)('0' + k);
    if (k < 36) return (char)('a' + k - 10);
    return '+';
}

char* token_display(char* buf, size_t n, const char* text) {
    size_t o = 0;
    if (!n) return buf;
    if (!*text) {  // decodes to nothing (NUL byte, id without a piece): show that it exists
        snprintf(buf, n, "∅");
        return buf;
    }
    for (const char* p = text; *p && o + 4 < n; p++) {
        const char* rep = *p == '\n' ? "↵" : *p == '\t' ? "⇥" : *p == '\r' ? "␍" : NULL;
        if (rep) {
            size_t k = strlen(rep);
            if (o + k + 1 > n) break;
            memcpy(buf + o, rep, k);
            o += k;
        } else {
            buf[o++] = *p;
        }
    }
    buf[o] = 0;
    return buf;
}

void draw_box(Canvas* c, int x, int y, int w, int h, int color) {
    if (w < 2 || h < 2) return;
    for (int r = y; r < y + h; r++) canvas_fill(c, r, x, w, ' ', color);
    canvas_put_char(c, y, x, 0x250C, color);
    canvas_put_char(c, y, x + w - 1, 0x2510, color);
    canvas_put_char(c, y + h - 1, x, 0x2514, color);
    canvas_put_char(c, y + h - 1, x + w - 1, 0x2518, color);
    canvas_fill(c, y, x + 1, w - 2, 0x2500, color);
    canvas_fill(c, y + h - 1, x + 1, w - 2, 0x2500, color);
    for (int r = y + 1; r < y + h - 1; r++) {
        canvas_put_char(c, r, x, 0x2502, color);
        canvas_put_char(c, r, x + w - 1, 0x2502, color);
    }
}

int panel_block_key(View* v, int key, UiState* u) {
    const Snapshot* s = v->snap;
    int L = s ? s->n_layers : 1, E = s ? s->n_experts : 1;
    if (key == KEY_CODE_UP) u->layer = u->layer > 0 ? u->layer - 1 : 0;
    else if (key == KEY_CODE_DOWN) u->layer = u->layer < L - 1 ? u->layer + 1 : L - 1;
    else if (key == KEY_CODE_PPAGE) u->layer = u->layer > 8 ? u->layer - 8 : 0;
    else if (key == KEY_CODE_NPAGE) u->layer = u->layer + 8 < L ? u->layer + 8 : L - 1;
    else if (key == ',') u->expert = u->expert > 0 ? u->expert - 1 : 0;
    else if (key == '.') u->expert = u->expert < E - 1 ? u->expert + 1 : E - 1;
    else return ACT_IGNORED;
    return ACT_REDRAW;
}

int window_start(int n, int rows, int sel) {
    if (rows <= 0 || n <= rows) return 0;
    int start = sel - rows / 2;
    if (start < 0) start = 0;
    if (start > n - rows) start = n - rows;
    return start;
}
