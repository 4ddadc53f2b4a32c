// draw.h: drawing bits shared by the panels: title bars, bars, heat cells, sparklines, colour
// scales and token formatting. They only map numbers the views already have to glyphs and colours.
#ifndef SLIMSCOPE_DRAW_H
#define SLIMSCOPE_DRAW_H

#include "canvas.h"
#include "crt.h"
#include "view.h"

// Title bar on the view's first row: "▶ Name  info" when focused, "  Name  info" otherwise.
void draw_title(Canvas* c, const View* v, const char* info);
// The same with the first of n infos (longest first) that fits whole (the last one, cut, if none
// does) left of `tag` (may be NULL), which goes at the right end of the bar.
void draw_title_fit(Canvas* c, const View* v, const char* const* infos, int n, const char* tag);
// What a per-block panel showing blocks [l0, l0 + shown) of L puts on its title bar: " blk 6-15/16 ↑ "
// ("" when it shows them all).
char* block_window_tag(char* buf, size_t n, int l0, int shown, int L);
// Horizontal bar of `width` cells for value in [lo, hi], with eighth-block resolution.
void draw_hbar(Canvas* c, int row, int col, int width, double value, double lo, double hi, int color);
// Column of the bar for value (clamped), as draw_hbar lays it out.
int bar_col(int width, double value, double lo, double hi);
// Heat ramp for v in [0, 1]: colour element and shade glyph (readable without colour too).
int heat_color(double v);
uint32_t heat_glyph(double v);
// The shade scale in numbers, "·<.02 ░<.25 ▒<.5 ▓<.75 █≤1" in the ramp's colours, in at most
// width columns (nothing when it does not fit); returns the column after it.
int draw_heat_legend(Canvas* c, int row, int col, int width);
void draw_heat_cell(Canvas* c, int row, int col, int width, double v);
// Sparkline of n values scaled to [lo, hi] (lo == hi: from the data); value sel drawn in sel_color.
void draw_sparkline(Canvas* c, int row, int col, const float* vals, int n, double lo, double hi, int color, int sel,
                    int sel_color);
uint32_t spark_glyph(double v);  // v in [0, 1] -> U+2581..U+2588
// Token tint for an identity share in [0, 1] (0 = all LoRA, 1 = adapter bypassed).
int share_color(double share);
int expert_color(int k);  // LoRA expert k
char expert_char(int k);  // '0'..'9', 'a'..'z', '+'
// Printable form of a token for one-line display: newline -> "↵", tab -> "⇥", CR -> "␍", empty -> "∅".
char* token_display(char* buf, size_t n, const char* text);
// Centred box with a border (help overlay); returns nothing, clears the inside.
void draw_box(Canvas* c, int x, int y, int w, int h, int color);
// Keys shared by the per-block panels: Up/Down (PgUp/PgDn) select the block, ',' '.' the expert.
int panel_block_key(View* v, int key, UiState* u);
// First row of a window of `rows` rows over n items that keeps item sel visible (centred when it can).
int window_start(int n, int rows, int sel);

#endif
