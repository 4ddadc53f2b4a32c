// canvas.h: the render buffer every view draws into. A grid of cells (one Unicode code point and
// one colour element each); crt.c copies it to the terminal, and tests read it back as text
// (canvas_row_text, canvas_text_at) and colours (canvas_color_at). No curses here.
#ifndef SLIMSCOPE_CANVAS_H
#define SLIMSCOPE_CANVAS_H

#include <stddef.h>
#include <stdint.h>

#define CANVAS_CONT 0xFFFFFFFFu  // right half of a double-width character

typedef struct {
    uint32_t ch;               // code point; CANVAS_CONT for the second column of a wide character
    uint8_t color;             // a ColorElement (crt.h)
} Cell;

typedef struct {
    int rows, cols;
    Cell* cells;               // (rows, cols)
    int clip_x, clip_y, clip_w, clip_h;  // puts outside this rectangle are dropped
    int cursor_row, cursor_col;          // where the terminal cursor goes (-1: hidden)
} Canvas;

void canvas_init(Canvas* c, int rows, int cols);
void canvas_resize(Canvas* c, int rows, int cols);
void canvas_free(Canvas* c);
// Every cell to a space of colour `color`; clip to the whole canvas; cursor hidden.
void canvas_clear(Canvas* c, int color);
void canvas_clip(Canvas* c, int x, int y, int w, int h);
void canvas_unclip(Canvas* c);

// Writes UTF-8 text at (row, col), clipped; control characters are shown as U+00B7 and invalid
// bytes as U+FFFD; double-width characters take two cells. Returns the column after the text.
int canvas_put(Canvas* c, int row, int col, const char* text, int color);
// Same with at most max_cols columns used.
int canvas_putn(Canvas* c, int row, int col, const char* text, int max_cols, int color);
int canvas_printf(Canvas* c, int row, int col, int color, const char* fmt, ...) __attribute__((format(printf, 5, 6)));
void canvas_put_char(Canvas* c, int row, int col, uint32_t ch, int color);
// Fills w cells of a row with ch.
void canvas_fill(Canvas* c, int row, int col, int w, uint32_t ch, int color);
// Sets the colour of w cells, keeping their characters.
void canvas_tint(Canvas* c, int row, int col, int w, int color);

// Reading back (tests, screenshots): the row as UTF-8 with trailing spaces kept; returns buf.
char* canvas_row_text(const Canvas* c, int row, char* buf, size_t n);
// The text of `len` cells starting at (row, col).
char* canvas_text_at(const Canvas* c, int row, int col, int len, char* buf, size_t n);
int canvas_color_at(const Canvas* c, int row, int col);
uint32_t canvas_char_at(const Canvas* c, int row, int col);
// Row of the first line containing needle (from row `from`), -1 if none; *col gets its column.
int canvas_find(const Canvas* c, const char* needle, int from, int* col);
// The whole canvas as text, rows separated by '\n' (malloc'd).
char* canvas_dump(const Canvas* c);

// UTF-8 helpers shared by the views.
// Decodes one code point from s (at most n bytes); returns bytes used (>= 1), *cp = U+FFFD when invalid.
int utf8_decode(const char* s, size_t n, uint32_t* cp);
int utf8_encode(uint32_t cp, char* out);
// Display width of a code point in cells (0, 1 or 2) as the canvas lays it out.
int cell_width(uint32_t cp);
// Columns the text takes on the canvas.
int text_width(const char* s);
int text_width_n(const char* s, size_t n);  // of its first n bytes

#endif
