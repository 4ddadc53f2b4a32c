// screen.c: layout, focus and key dispatch for the panels, and the help overlay (see screen.h).
//
// Full layout (>= 80x24):                     Compact (>= 40x10):      Tiny: one line.
//   Output      │ Router                        Output
//   Selection   │ Distance                      <focused detail panel>
//   Masking     │ Lens (Compare with :compare)  prompt
//   message line (on the prompt row when short) status (messages over it)
//   prompt
//   status bar
// Each panel first gets the rows that show every block (as far as they go), then the rows that
// add detail (headers, footers, sparklines), then the Output (left) or everyone (right) the rest.
#include "screen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "draw.h"

static const int FOCUS_RING[] = {V_PROMPT, V_OUTPUT, V_ROUTER, V_DISTANCE, V_SELECTION, V_MASKING, V_LENS};
#define RING_N (int)(sizeof FOCUS_RING / sizeof FOCUS_RING[0])

void screen_init(Screen* scr) {
    memset(scr, 0, sizeof *scr);
    scr->views[V_PROMPT] = prompt_view_new();
    scr->views[V_OUTPUT] = output_view_new();
    scr->views[V_ROUTER] = router_view_new();
    scr->views[V_DISTANCE] = distance_view_new();
    scr->views[V_SELECTION] = selection_view_new();
    scr->views[V_MASKING] = masking_view_new();
    scr->views[V_LENS] = lens_view_new();
    scr->views[V_STATUS] = status_view_new();
    scr->views[V_COMPARE] = compare_view_new();
    scr->focus = V_PROMPT;
    scr->detail = V_ROUTER;
    scr->n_layers = 4;
    screen_set_focus(scr, V_PROMPT);
}

void screen_free(Screen* scr) {
    for (int i = 0; i < V_COUNT; i++) view_destroy(scr->views[i]);
    memset(scr, 0, sizeof *scr);
}

static void place(View* v, int x, int y, int w, int h) {
    v->x = x;
    v->y = y;
    v->w = w > 0 ? w : 0;
    v->h = h > 0 ? h : 0;
    v->visible = v->w > 0 && v->h > 0;
}

// Splits `total` rows among n panels that need need[i] rows and would use up to nice[i] (each gets
// at least min_h): shortfalls shrink everyone in proportion; spare rows go first, one at a time in
// turn, towards nice[i], then to the panel `grow`, or shared out evenly when grow < 0.
static void split_rows(int total, const int* need, const int* nice, int n, int min_h, int grow, int* out) {
    int sum = 0;
    for (int i = 0; i < n; i++) sum += need[i];
    if (sum <= total) {
        int spare = total - sum, more = 1;
        for (int i = 0; i < n; i++) out[i] = need[i];
        while (spare > 0 && more) {
            more = 0;
            for (int i = 0; i < n && spare > 0; i++)
                if (out[i] < nice[i]) out[i]++, spare--, more = 1;
        }
        if (grow >= 0) out[grow] += spare;
        else
            for (int i = 0; i < n; i++) out[i] += spare / n + (i < spare % n);
        return;
    }
    if (grow < 0) grow = 0;
    int used = 0;
    for (int i = 0; i < n; i++) {
        out[i] = need[i] * total / sum;
        if (out[i] < min_h) out[i] = min_h;
        used += out[i];
    }
    for (int i = 0; used > total && i < 4 * n; i++) {  // take back from the tallest
        int t = 0;
        for (int j = 1; j < n; j++)
            if (out[j] > out[t]) t = j;
        out[t]--;
        used--;
    }
    out[grow] += total - used;
}

void screen_layout(Screen* scr, int rows, int cols) {
    scr->rows = rows;
    scr->cols = cols;
    for (int i = 0; i < V_COUNT; i++) place(scr->views[i], 0, 0, 0, 0);
    if (rows < COMPACT_MIN_ROWS || cols < COMPACT_MIN_COLS) {
        scr->layout = LAYOUT_TINY;
        return;
    }
    int L = scr->n_layers > 0 ? scr->n_layers : 1;
    scr->msg_on_prompt = 0;
    if (rows < FULL_MIN_ROWS || cols < FULL_MIN_COLS) {
        scr->layout = LAYOUT_COMPACT;
        int sh = rows >= 16 ? 2 : 1;  // message line above the status bar when there is room
        place(scr->views[V_STATUS], 0, rows - sh, cols, sh);
        place(scr->views[V_PROMPT], 0, rows - sh - 1, cols, 1);
        int area = rows - sh - 1;
        int detail = scr->focus != V_PROMPT && scr->focus != V_OUTPUT ? scr->focus : scr->detail;
        scr->detail = detail;
        int ho = area * 2 / 5;
        if (ho < 3) ho = 3;
        place(scr->views[V_OUTPUT], 0, 0, cols, ho);
        place(scr->views[detail], 0, ho, cols, area - ho);
        return;
    }
    scr->layout = LAYOUT_FULL;
    // right column: router (title, header, L rows; footer, shade scale), distance (title, L bars;
    // one sparkline per block), lens (title, L rows; column heads)
    int right_need[3] = {L + 2, L + 1, L + 1}, right_nice[3] = {L + 4, 2 * L + 1, L + 2}, right[3];
    // the message line moves onto the prompt row when the blocks would not fit otherwise
    int sh = rows - 3 >= right_need[0] + right_need[1] + right_need[2] ? 2 : 1;
    scr->msg_on_prompt = sh == 1;
    place(scr->views[V_STATUS], 0, rows - sh, cols, sh);
    place(scr->views[V_PROMPT], 0, rows - sh - 1, cols, 1);
    int area = rows - sh - 1;
    int lw = cols * 11 / 20, rx = lw + 1, rw = cols - lw - 1;
    // left column: output (title + 3 lines) takes what the selection map (title, L rows; ticks,
    // footer) and masking panel (7 rows; 10 with the top-5) leave
    int left_need[3] = {4, L + 1, 7}, left_nice[3] = {4, L + 3, 10}, left[3];
    split_rows(area, left_need, left_nice, 3, 3, 0, left);
    place(scr->views[V_OUTPUT], 0, 0, lw, left[0]);
    place(scr->views[V_SELECTION], 0, left[0], lw, left[1]);
    place(scr->views[V_MASKING], 0, left[0] + left[1], lw, left[2]);
    split_rows(area, right_need, right_nice, 3, 3, -1, right);
    place(scr->views[V_ROUTER], rx, 0, rw, right[0]);
    place(scr->views[V_DISTANCE], rx, right[0], rw, right[1]);
    place(scr->views[V_LENS], rx, right[0] + right[1], rw, right[2]);
}

void screen_update(Screen* scr, const Snapshot* s, const UiState* u) {
    if (s->n_layers != scr->n_layers) {
        scr->n_layers = s->n_layers;
        screen_layout(scr, scr->rows, scr->cols);
    }
    // `:compare` on: the Compare panel takes the Lens's place (its focus and keys stay the Lens's)
    View *from = scr->views[s->cmpb_on ? V_LENS : V_COMPARE], *to = scr->views[s->cmpb_on ? V_COMPARE : V_LENS];
    if (from->visible) {
        place(to, from->x, from->y, from->w, from->h);
        place(from, 0, 0, 0, 0);
    }
    for (int i = 0; i < V_COUNT; i++) view_update(scr->views[i], s, u);
}

// Help lines as rows of the overlay: "KEYS\tdescription" with the description wrapped at word
// boundaries to `dw` columns; calls row(k, key or NULL, text, len) for visual rows k = 0, 1, ...
// Returns the number of rows.
typedef void (*HelpRowFn)(void* ctx, int k, const char* key, const char* text, int len);
static int help_rows(const Screen* scr, int dw, HelpRowFn row, void* ctx) {
    int k = 0;
    for (int i = 0; i < scr->n_help; i++) {
        const char* line = scr->help[i];
        const char* tab = strchr(line, '\t');
        if (!tab) {
            if (row) row(ctx, k, NULL, line, (int)strlen(line));
            k++;
            continue;
        }
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(tab - line), line);
        const char* d = tab + 1;
        for (int first = 1; *d || first; first = 0) {
            // take as many words as fit in dw columns (at least one word, cut if longer)
            const char* end = d;
            const char* fit = NULL;
            while (*end) {
                const char* sp = strchr(end + 1, ' ');
                const char* stop = sp ? sp : end + strlen(end);
                char part[512];
                snprintf(part, sizeof part, "%.*s", (int)(stop - d), d);
                if (text_width(part) > dw && fit) break;
                fit = stop;
                end = stop;
                if (!sp) break;
            }
            if (!fit) fit = d + strlen(d);
            if (row) row(ctx, k, first ? key : "", d, (int)(fit - d));
            k++;
            d = fit;
            while (*d == ' ') d++;
        }
    }
    return k;
}

typedef struct {
    Canvas* c;
    int x, y, w, first, body;
} HelpDraw;

static void help_draw_row(void* ctx, int k, const char* key, const char* text, int len) {
    HelpDraw* h = ctx;
    if (k < h->first || k >= h->first + h->body) return;
    int row = h->y + 1 + k - h->first;
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", len, text);
    if (!key) {
        canvas_putn(h->c, row, h->x + 2, buf, h->w - 4, C_HELP_KEY);
        return;
    }
    int kc = canvas_putn(h->c, row, h->x + 3, key, h->w - 6, C_HELP_KEY);
    int dc = kc + 2 > h->x + 24 ? kc + 2 : h->x + 24;
    canvas_putn(h->c, row, dc, buf, h->x + h->w - 2 - dc, C_HELP);
}

static void draw_help(Screen* scr, Canvas* c, const UiState* u) {
    int w = scr->cols - 4 < 100 ? scr->cols - 4 : 100;
    int dw = w - 26;  // descriptions start 24 columns in, end 2 before the border
    int n = help_rows(scr, dw, NULL, NULL);
    int h = scr->rows - 2;
    if (h > n + 3) h = n + 3;
    int x = (scr->cols - w) / 2, y = (scr->rows - h) / 2;
    draw_box(c, x, y, w, h, C_HELP);
    canvas_put(c, y, x + 2, " slimscope: keys and commands (any key closes, Up/Down scroll) ", C_HELP_KEY);
    int body = h - 2, first = u->help_scroll;
    if (first > n - body) first = n - body;
    if (first < 0) first = 0;
    HelpDraw hd = {c, x, y, w, first, body};
    help_rows(scr, dw, help_draw_row, &hd);
}

void screen_draw(Screen* scr, Canvas* c, const UiState* u) {
    if (scr->layout == LAYOUT_TINY) {
        char msg[128];
        snprintf(msg, sizeof msg, "too small %dx%d, need %dx%d (q quits)", scr->cols, scr->rows, COMPACT_MIN_COLS, COMPACT_MIN_ROWS);
        canvas_putn(c, 0, 0, msg, c->cols, C_ERROR);
        return;
    }
    for (int i = 0; i < V_COUNT; i++) {
        View* v = scr->views[i];
        v->focused = i == scr->focus || (i == V_COMPARE && scr->focus == V_LENS);
        view_draw(v, c);
    }
    if (scr->layout == LAYOUT_FULL) {  // the vertical rule between the columns
        int x = scr->views[V_ROUTER]->x - 1, h = scr->views[V_PROMPT]->y;
        for (int r = 0; r < h; r++) canvas_put_char(c, r, x, 0x2502, C_SEPARATOR);
    }
    if (u->help && scr->n_help) draw_help(scr, c, u);
}

void screen_set_focus(Screen* scr, int id) {
    scr->focus = id;
    for (int i = 0; i < V_COUNT; i++) scr->views[i]->focused = i == id;
    if (scr->layout == LAYOUT_COMPACT && id != V_PROMPT && id != V_OUTPUT && id != scr->detail) {
        scr->detail = id;
        screen_layout(scr, scr->rows, scr->cols);
    }
}

int screen_focus_next(Screen* scr, int dir) {
    int k = 0;
    for (int i = 0; i < RING_N; i++)
        if (FOCUS_RING[i] == scr->focus) k = i;
    k = (k + dir + RING_N) % RING_N;
    screen_set_focus(scr, FOCUS_RING[k]);
    return scr->focus;
}

int screen_on_key(Screen* scr, int key, UiState* u) { return view_on_key(scr->views[scr->focus], key, u); }

void screen_set_help(Screen* scr, const char** lines, int n) {
    scr->help = lines;
    scr->n_help = n;
}
