// canvas.c: the render buffer (see canvas.h). Widths come from utf8proc so that the canvas and
// the terminal agree on where each character ends.
#include "canvas.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "common.h"

void canvas_init(Canvas* c, int rows, int cols) {
    memset(c, 0, sizeof *c);
    canvas_resize(c, rows, cols);
}

void canvas_resize(Canvas* c, int rows, int cols) {
    if (rows < 0) rows = 0;
    if (cols < 0) cols = 0;
    free(c->cells);
    c->rows = rows;
    c->cols = cols;
    c->cells = xcalloc((size_t)(rows ? rows : 1) * (cols ? cols : 1), sizeof(Cell));
    canvas_clear(c, 0);
}

void canvas_free(Canvas* c) {
    free(c->cells);
    memset(c, 0, sizeof *c);
}

void canvas_unclip(Canvas* c) {
    c->clip_x = 0;
    c->clip_y = 0;
    c->clip_w = c->cols;
    c->clip_h = c->rows;
}

void canvas_clip(Canvas* c, int x, int y, int w, int h) {
    // intersect with the canvas
    int x1 = x + w, y1 = y + h;
    if (x < 0) x = 0;
    if (y < 0) y = 0;
    if (x1 > c->cols) x1 = c->cols;
    if (y1 > c->rows) y1 = c->rows;
    c->clip_x = x;
    c->clip_y = y;
    c->clip_w = x1 > x ? x1 - x : 0;
    c->clip_h = y1 > y ? y1 - y : 0;
}

void canvas_clear(Canvas* c, int color) {
    for (int i = 0; i < c->rows * c->cols; i++) {
        c->cells[i].ch = ' ';
        c->cells[i].color = (uint8_t)color;
    }
    canvas_unclip(c);
    c->cursor_row = c->cursor_col = -1;
}

static int in_clip(const Canvas* c, int row, int col) {
    return row >= c->clip_y && row < c->clip_y + c->clip_h && col >= c->clip_x && col < c->clip_x + c->clip_w;
}

// Clears the other half of a wide character that (row, col) is about to overwrite.
static void break_wide(Canvas* c, int row, int col) {
    Cell* r = c->cells + (size_t)row * c->cols;
    if (r[col].ch == CANVAS_CONT && col > 0) r[col - 1].ch = ' ';
    if (col + 1 < c->cols && r[col + 1].ch == CANVAS_CONT) r[col + 1].ch = ' ';
}

int utf8_decode(const char* s, size_t n, uint32_t* cp) {
    utf8proc_int32_t v;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t*)s, (utf8proc_ssize_t)(n > 4 ? 4 : n), &v);
    if (k < 1) {
        *cp = 0xFFFD;
        return 1;
    }
    *cp = (uint32_t)v;
    return (int)k;
}

int utf8_encode(uint32_t cp, char* out) { return (int)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t*)out); }

int cell_width(uint32_t cp) {
    if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 1;  // shown as a middle dot
    int w = utf8proc_charwidth((utf8proc_int32_t)cp);
    return w < 0 ? 1 : w > 2 ? 2 : w;
}

static uint32_t shown(uint32_t cp) { return cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ? 0xB7 : cp; }

int text_width(const char* s) { return text_width_n(s, strlen(s)); }

int text_width_n(const char* s, size_t n) {
    int w = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_decode(s + i, n - i, &cp);
        w += cell_width(cp);
    }
    return w;
}

void canvas_put_char(Canvas* c, int row, int col, uint32_t ch, int color) {
    int w = cell_width(ch);
    if (w == 0) return;  // combining marks and zero-width characters are dropped
    if (!in_clip(c, row, col) || (w == 2 && !in_clip(c, row, col + 1))) return;
    Cell* r = c->cells + (size_t)row * c->cols;
    break_wide(c, row, col);
    r[col].ch = shown(ch);
    r[col].color = (uint8_t)color;
    if (w == 2) {
        break_wide(c, row, col + 1);
        r[col + 1].ch = CANVAS_CONT;
        r[col + 1].color = (uint8_t)color;
    }
}

int canvas_putn(Canvas* c, int row, int col, const char* text, int max_cols, int color) {
    size_t n = strlen(text);
    int end = col + max_cols;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += utf8_decode(text + i, n - i, &cp);
        int w = cell_width(cp);
        if (col + w > end) break;
        canvas_put_char(c, row, col, cp, color);
        col += w;
    }
    return col;
}

int canvas_put(Canvas* c, int row, int col, const char* text, int color) { return canvas_putn(c, row, col, text, 1 << 30, color); }

int canvas_printf(Canvas* c, int row, int col, int color, const char* fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return canvas_put(c, row, col, buf, color);
}

void canvas_fill(Canvas* c, int row, int col, int w, uint32_t ch, int color) {
    int cw = cell_width(ch);
    for (int i = 0; i + cw <= w; i += cw) canvas_put_char(c, row, col + i, ch, color);
}

void canvas_tint(Canvas* c, int row, int col, int w, int color) {
    for (int i = col; i < col + w; i++)
        if (in_clip(c, row, i)) c->cells[(size_t)row * c->cols + i].color = (uint8_t)color;
}

char* canvas_text_at(const Canvas* c, int row, int col, int len, char* buf, size_t n) {
    size_t o = 0;
    if (n == 0) return buf;
    for (int i = col; i < col + len && row >= 0 && row < c->rows && i < c->cols; i++) {
        if (i < 0) continue;
        uint32_t cp = c->cells[(size_t)row * c->cols + i].ch;
        if (cp == CANVAS_CONT) continue;
        char tmp[8];
        int k = utf8_encode(cp, tmp);
        if (o + k + 1 > n) break;
        memcpy(buf + o, tmp, k);
        o += k;
    }
    buf[o] = 0;
    return buf;
}

char* canvas_row_text(const Canvas* c, int row, char* buf, size_t n) { return canvas_text_at(c, row, 0, c->cols, buf, n); }

int canvas_color_at(const Canvas* c, int row, int col) {
    if (row < 0 || row >= c->rows || col < 0 || col >= c->cols) return -1;
    return c->cells[(size_t)row * c->cols + col].color;
}

uint32_t canvas_char_at(const Canvas* c, int row, int col) {
    if (row < 0 || row >= c->rows || col < 0 || col >= c->cols) return 0;
    return c->cells[(size_t)row * c->cols + col].ch;
}

int canvas_find(const Canvas* c, const char* needle, int from, int* col) {
    size_t cap = (size_t)c->cols * 4 + 1;
    char* buf = xmalloc(cap);
    for (int r = from < 0 ? 0 : from; r < c->rows; r++) {
        canvas_row_text(c, r, buf, cap);
        char* hit = strstr(buf, needle);
        if (!hit) continue;
        if (col) {  // bytes before the hit -> columns
            char save = *hit;
            *hit = 0;
            *col = text_width(buf);
            *hit = save;
        }
        free(buf);
        return r;
    }
    free(buf);
    return -1;
}

char* canvas_dump(const Canvas* c) {
    size_t cap = (size_t)c->rows * (c->cols * 4 + 1) + 1, o = 0;
    char* out = xmalloc(cap);
    for (int r = 0; r < c->rows; r++) {
        canvas_row_text(c, r, out + o, cap - o);
        o += strlen(out + o);
        out[o++] = '\n';
    }
    out[o] = 0;
    return out;
}
