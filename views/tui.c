// tui.c: the main loop of the terminal UI (see tui.h).
//
//   poll(stdin, worker wake pipe, signal pipe)
//     -> signals: SIGTERM/SIGHUP/SIGQUIT (or stdin hung up) quit, SIGINT counts as Ctrl-C, SIGWINCH re-lays out
//     -> keys: help overlay, else the prompt (readline, callback interface) when it has the focus,
//        else the focused panel's on_key, else the key table (ACTIONS) -> REDRAW | RERUN | QUIT
//     -> redraw when something changed: update every panel from the snapshot, draw, blit
//
// Readline never touches the terminal: its terminal preparation is a no-op, its output goes to
// /dev/null, keys reach it through rl_getc_function from a queue filled with what ncurses read,
// and rl_redisplay_function only marks the screen dirty: the prompt panel draws rl_line_buffer.
#include "tui.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "tui_commands.h"
#include "crt.h"

static Tui* g_tui;  // for readline's callbacks

#undef CTRL
#define CTRL(c) ((c) & 0x1f)
#define KEY_ESC 27

void tui_message(Tui* t, int error, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->ui.msg, sizeof t->ui.msg, fmt, ap);
    va_end(ap);
    t->ui.msg_error = error;
    t->dirty = 1;
}

void tui_fill_sampler(const Tui* t, Job* j) {
    j->temp = t->ui.temp;
    j->top_p = t->ui.top_p;
    j->n_new = t->ui.n_new;
    j->seed = t->ui.seed;
}

// ---------------------------------------------------------------------------------------------
// readline glue

static int rlq_empty(const Tui* t) { return t->rlq_head == t->rlq_tail; }

static void rlq_push(Tui* t, int byte) {
    int next = (t->rlq_tail + 1) % (int)sizeof t->rlq;
    if (next == t->rlq_head) return;  // full: drop (a paste larger than the queue is cut)
    t->rlq[t->rlq_tail] = (unsigned char)byte;
    t->rlq_tail = next;
}

// readline asks for the next byte: from the queue, or (in the middle of a multi-byte character or
// key sequence) straight from the terminal.
static int rl_getc_queue(FILE* f) {
    Tui* t = g_tui;
    (void)f;
    while (rlq_empty(t)) {
        int k = crt_read_key();
        if (k >= 0 && k < 256) return k;
        if (k < 0 && !crt_wait_input(1000)) return CTRL('G');  // nothing came: abort the sequence
    }
    int b = t->rlq[t->rlq_head];
    t->rlq_head = (t->rlq_head + 1) % (int)sizeof t->rlq;
    return b;
}

static int rl_input_available(void) { return !rlq_empty(g_tui); }
static void rl_redisplay_dirty(void) { g_tui->dirty = 1; }
static void rl_prep_noop(int meta) { (void)meta; }
static void rl_deprep_noop(void) {}

static void history_add(Tui* t, const char* line) {
    add_history(line);
    if (!t->hist_path[0]) return;
    struct stat st;
    if (stat(t->hist_path, &st) != 0) write_history(t->hist_path);
    else append_history(1, t->hist_path);
    if (++t->hist_lines % 100 == 0) history_truncate_file(t->hist_path, 1000);
}

static void on_line(char* line) {
    Tui* t = g_tui;
    if (!line) {  // end of input
        t->quit = 1;
        return;
    }
    if (*line) history_add(t, line);
    tui_submit_line(t, line);
    free(line);
}

// Runs readline over the queued bytes.
static void rl_pump(Tui* t) {
    while (!rlq_empty(t) && !t->quit) rl_callback_read_char();
    t->dirty = 1;
}

// Curses key -> the bytes readline's emacs keymap understands.
static void rl_feed_key(Tui* t, int key) {
    if (key == KEY_CODE_LEFT) rlq_push(t, CTRL('B'));
    else if (key == KEY_CODE_RIGHT) rlq_push(t, CTRL('F'));
    else if (key == KEY_CODE_UP) rlq_push(t, CTRL('P'));
    else if (key == KEY_CODE_DOWN) rlq_push(t, CTRL('N'));
    else if (key == KEY_CODE_HOME) rlq_push(t, CTRL('A'));
    else if (key == KEY_CODE_END) rlq_push(t, CTRL('E'));
    else if (key == KEY_CODE_BACKSPACE) rlq_push(t, 127);
    else if (key == KEY_CODE_ENTER) rlq_push(t, '\r');
    else if (key == KEY_CODE_DC) {
        for (const char* p = "\033[3~"; *p; p++) rlq_push(t, *p);
    } else if (key >= 0 && key < 256) {
        rlq_push(t, key);
        // the rest of a UTF-8 character arrives with its first byte
        int more = key >= 0xF0 ? 3 : key >= 0xE0 ? 2 : key >= 0xC0 ? 1 : 0;
        for (int i = 0; i < more; i++) {
            int k = crt_read_key();
            if (k < 0 && crt_wait_input(50)) k = crt_read_key();
            if (k < 0) break;
            if (k >= 256) {
                crt_unread_key(k);
                break;
            }
            rlq_push(t, k);
        }
    } else {
        return;  // other function keys mean nothing to the line
    }
    rl_pump(t);
}

static void history_setup(Tui* t) {
    const char* xdg = getenv("XDG_STATE_HOME");
    const char* home = getenv("HOME");
    Err err;
    t->hist_path[0] = 0;
    if (xdg && *xdg) {
        char dir[3800];
        snprintf(dir, sizeof dir, "%.3700s/slimscope", xdg);
        if (mkdir_p(dir, &err) == 0) snprintf(t->hist_path, sizeof t->hist_path, "%s/history", dir);
    } else if (home && *home) {
        snprintf(t->hist_path, sizeof t->hist_path, "%s/.slimscope_history", home);
    }
    using_history();
    stifle_history(1000);
    if (t->hist_path[0]) read_history(t->hist_path);
}

static FILE* g_rl_null;

static void readline_setup(Tui* t) {
    g_tui = t;
    history_setup(t);
    rl_readline_name = "slimscope";
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    rl_change_environment = 0;
    rl_inhibit_completion = 1;
    rl_prep_term_function = rl_prep_noop;
    rl_deprep_term_function = rl_deprep_noop;
    rl_getc_function = rl_getc_queue;
    rl_input_available_hook = rl_input_available;
    rl_redisplay_function = rl_redisplay_dirty;
    g_rl_null = fopen("/dev/null", "w");
    rl_outstream = g_rl_null;
    rl_instream = stdin;
    rl_callback_handler_install("slimscope> ", on_line);
}

static void readline_done(Tui* t) {
    rl_callback_handler_remove();
    if (t->hist_path[0]) history_truncate_file(t->hist_path, 1000);
    rl_outstream = stdout;
    if (g_rl_null) fclose(g_rl_null);
    g_rl_null = NULL;
}

static int line_empty(const Tui* t) { return t->headless || !rl_line_buffer || rl_end == 0; }

static void line_clear(Tui* t) {
    if (t->headless) return;
    if (RL_ISSTATE(RL_STATE_ISEARCH)) {  // leave the search first
        rlq_push(t, CTRL('G'));
        rl_pump(t);
    }
    rl_replace_line("", 0);
    rl_point = 0;
}

// ---------------------------------------------------------------------------------------------
// the key table

typedef struct {
    int key;
    const char* keys;          // as shown in the help ("[  ]"); NULL: same entry as the one above
    const char* help;
    int (*run)(Tui* t, int key);
} Action;

static int snapshot_n(Tui* t, int* pos, int* has_adapter, int* busy) {
    const Snapshot* s = worker_lock(t->w);
    int n = s->n;
    if (pos) *pos = ui_sel_pos(&t->ui, s);
    if (has_adapter) *has_adapter = s->has_adapter;
    if (busy) *busy = s->busy;
    worker_unlock(t->w);
    return n;
}

static int act_quit(Tui* t, int key) { return ACT_QUIT; }

static int act_help(Tui* t, int key) {
    t->ui.help = 1;
    t->ui.help_scroll = 0;
    return ACT_REDRAW;
}

static int act_focus(Tui* t, int key) {
    screen_focus_next(&t->scr, key == KEY_CODE_BTAB ? -1 : 1);
    return ACT_REDRAW;
}

static int act_cursor(Tui* t, int key) {
    int pos, n = snapshot_n(t, &pos, NULL, NULL);
    if (n == 0) return ACT_OK;
    if (key == KEY_CODE_LEFT) t->ui.sel = pos > 0 ? pos - 1 : 0;
    else if (key == KEY_CODE_RIGHT) t->ui.sel = pos + 1 >= n - 1 ? -1 : pos + 1;
    else if (key == KEY_CODE_HOME) t->ui.sel = n > 1 ? 0 : -1;
    else t->ui.sel = -1;
    return ACT_REDRAW | ACT_RERUN;
}

static int act_p(Tui* t, int key) {
    int has;
    snapshot_n(t, NULL, &has, NULL);
    if (!has) {
        tui_message(t, 1, "no adapter: p has nothing to mask (:load DIR)");
        return ACT_REDRAW;
    }
    float d = key == '[' ? -0.05f : key == ']' ? 0.05f : key == '{' ? -0.01f : 0.01f;
    float p = roundf((t->ui.p + d) * 100.0f) / 100.0f;  // stay on the 0.01 grid
    if (p < 0) p = 0;
    if (p > 0.99f) p = 0.99f;
    if (p == t->ui.p) {
        tui_message(t, 1, "p stays within [0, 0.99]");
        return ACT_REDRAW;
    }
    t->ui.p = p;
    Job j = {.kind = JOB_SET_P, .f = p};
    worker_post(t->w, &j);
    return ACT_REDRAW;
}

static int act_mask_seed(Tui* t, int key) {
    t->ui.mask_seed++;
    Job j = {.kind = JOB_SET_MASK_SEED, .a = (long long)t->ui.mask_seed};
    worker_post(t->w, &j);
    tui_message(t, 0, "mask seed %llu", (unsigned long long)t->ui.mask_seed);
    return ACT_REDRAW;
}

static int act_regen(Tui* t, int key) {
    Job j = {.kind = JOB_REGEN};
    tui_fill_sampler(t, &j);
    worker_post(t->w, &j);
    t->ui.sel = -1;
    return ACT_REDRAW | ACT_RERUN;
}

static int act_escape(Tui* t, int key) {
    if (worker_cancel(t->w)) tui_message(t, 0, "stopping…");
    return ACT_REDRAW;
}

static int act_ctrl_c(Tui* t, int key) {
    if (t->ui.quit_armed) return ACT_QUIT;
    t->ui.quit_armed = 1;
    worker_cancel(t->w);
    line_clear(t);
    tui_message(t, 0, "Ctrl-C again quits");
    return ACT_REDRAW;
}

static int act_prompt(Tui* t, int key) {
    screen_set_focus(&t->scr, V_PROMPT);
    if (key == ':' && line_empty(t) && !t->headless) {
        rlq_push(t, ':');
        rl_pump(t);
    }
    return ACT_REDRAW;
}

static int act_redraw(Tui* t, int key) {
    if (!t->headless) crt_invalidate();
    return ACT_REDRAW;
}

static const Action ACTIONS[] = {
    {'q', "q", "quit (also Ctrl-D on an empty prompt, Ctrl-C twice)", act_quit},
    {'?', "?  F1", "this help", act_help},
    {-2, NULL, NULL, act_help},  // F1, filled in at run time
    {'\t', "Tab  Shift-Tab", "next / previous panel", act_focus},
    {-3, NULL, NULL, act_focus},  // Shift-Tab
    {-4, "Left  Right", "move the token cursor: every panel describes that token", act_cursor},
    {-5, NULL, NULL, act_cursor},
    {-6, "Home  End", "first token / follow the last token", act_cursor},
    {-7, NULL, NULL, act_cursor},
    {'[', "[  ]", "masking ratio p -0.05 / +0.05", act_p},
    {']', NULL, NULL, act_p},
    {'{', "{  }", "masking ratio p -0.01 / +0.01", act_p},
    {'}', NULL, NULL, act_p},
    {'s', "s", "new mask seed", act_mask_seed},
    {'g', "g", "regenerate the continuation at p; show where it leaves p = 0 (Enter on an empty prompt too, when the text is stale)", act_regen},
    {KEY_ESC, "Esc", "stop generating (on the prompt: go to the panels)", act_escape},
    {CTRL('C'), "Ctrl-C", "stop generating and clear the line; twice: quit", act_ctrl_c},
    {':', ":", "type a command at the prompt", act_prompt},
    {'i', "i  /  Enter", "back to the prompt to type (Enter on a prompt moves the focus to the panels)", act_prompt},
    {'/', NULL, NULL, act_prompt},
    {'\r', NULL, NULL, act_prompt},
    {'\n', NULL, NULL, act_prompt},
    {CTRL('L'), "Ctrl-L", "redraw the screen", act_redraw},
};
#define N_ACTIONS (int)(sizeof ACTIONS / sizeof ACTIONS[0])

// Placeholder keys of the table for curses codes that are not constants.
static int action_key(const Action* a) {
    switch (a->key) {
    case -2: return KEY_CODE_F1;
    case -3: return KEY_CODE_BTAB;
    case -4: return KEY_CODE_LEFT;
    case -5: return KEY_CODE_RIGHT;
    case -6: return KEY_CODE_HOME;
    case -7: return KEY_CODE_END;
    default: return a->key;
    }
}

static int run_actions(Tui* t, int key) {
    if (key == KEY_CODE_ENTER) key = '\r';
    for (int i = 0; i < N_ACTIONS; i++)
        if (action_key(&ACTIONS[i]) == key) return ACTIONS[i].run(t, key);
    return ACT_IGNORED;
}

// Keys while the prompt has the focus: readline gets everything but these.
static int prompt_key(Tui* t, int key) {
    if (key == '\t' || key == KEY_CODE_BTAB) return act_focus(t, key);
    if (key == KEY_CODE_F1) return act_help(t, key);
    if (key == CTRL('L')) return act_redraw(t, key);
    if (key == CTRL('Z')) return ACT_OK;
    if (key == KEY_ESC) {
        if (!t->headless && RL_ISSTATE(RL_STATE_ISEARCH)) {  // end the search, keep the line found
            rlq_push(t, CTRL('J'));
            rl_pump(t);
        } else if (worker_cancel(t->w)) {
            tui_message(t, 0, "stopping…");
        } else {
            screen_set_focus(&t->scr, V_OUTPUT);
        }
        return ACT_REDRAW;
    }
    if (key == CTRL('D') && line_empty(t)) return ACT_QUIT;
    if (line_empty(t) && (key == KEY_CODE_LEFT || key == KEY_CODE_RIGHT || key == KEY_CODE_HOME || key == KEY_CODE_END))
        return act_cursor(t, key);
    if (key == KEY_CODE_PPAGE || key == KEY_CODE_NPAGE) return ACT_OK;
    if (t->headless) return ACT_OK;
    rl_feed_key(t, key);
    return ACT_REDRAW;
}

int tui_key(Tui* t, int key) {
    if (key == KEY_CODE_RESIZE) return ACT_REDRAW;
    if (t->ui.help) {  // the overlay takes keys until closed
        if (key == KEY_CODE_DOWN || key == KEY_CODE_NPAGE) t->ui.help_scroll += key == KEY_CODE_DOWN ? 1 : 10;
        else if (key == KEY_CODE_UP || key == KEY_CODE_PPAGE) t->ui.help_scroll -= key == KEY_CODE_UP ? 1 : 10;
        else t->ui.help = 0;
        if (t->ui.help_scroll < 0) t->ui.help_scroll = 0;
        return ACT_REDRAW;
    }
    if (key == CTRL('C')) return act_ctrl_c(t, key);
    if (t->ui.quit_armed) {  // any other key disarms the second Ctrl-C
        t->ui.quit_armed = 0;
        t->ui.msg[0] = 0;
    }
    if (t->scr.layout == LAYOUT_TINY) return key == 'q' ? ACT_QUIT : ACT_OK;
    if (t->scr.focus == V_PROMPT) return prompt_key(t, key);
    int f = screen_on_key(&t->scr, key, &t->ui);
    if (!(f & ACT_IGNORED)) return f;
    f = run_actions(t, key);
    return f & ACT_IGNORED ? ACT_OK : f;
}

// The generated text was sampled under another run than the one asked for now.
static int output_stale(Tui* t) {
    char why[256];
    const Snapshot* s = worker_lock(t->w);
    int stale = snapshot_gen_stale(s, t->ui.p, t->ui.mode, t->ui.mask_seed, why, sizeof why);
    worker_unlock(t->w);
    return stale;
}

void tui_submit_line(Tui* t, const char* line) {
    while (*line == ' ') line++;
    if (!*line && !output_stale(t)) return;
    int f;
    if (!*line) {  // Enter on an empty line regenerates stale text, as `g` does
        f = act_regen(t, 'g');
        screen_set_focus(&t->scr, V_OUTPUT);
    } else if (line[0] == ':') {
        f = commands_execute(t, line);
    } else {
        // a leading '+' continues the context once, whatever :append says
        Job j = {.kind = JOB_SUBMIT, .append = t->ui.append || line[0] == '+'};
        if (line[0] == '+') line++;
        j.text = line;  // any length: the worker refuses a prompt longer than the context
        tui_fill_sampler(t, &j);
        worker_post(t->w, &j);
        t->ui.sel = -1;
        t->ui.msg[0] = 0;
        // the inspection keys (? [ ] g q ...) work at once on the result; i : / Tab Enter type again
        screen_set_focus(&t->scr, V_OUTPUT);
        f = ACT_REDRAW | ACT_RERUN;
    }
    if (f & ACT_QUIT) t->quit = 1;
    if (f & ACT_RERUN) worker_select(t->w, t->ui.sel);
    t->dirty = 1;
}

// ---------------------------------------------------------------------------------------------
// drawing

void tui_render(Tui* t) {
    PromptState ps = {.prompt = "slimscope> ", .line = "", .point = 0};
    if (!t->headless) {
        ps.prompt = rl_display_prompt ? rl_display_prompt : "slimscope> ";
        ps.line = rl_line_buffer ? rl_line_buffer : "";
        ps.point = rl_point;
    }
    ps.active = t->scr.focus == V_PROMPT;
    prompt_view_set(t->scr.views[V_PROMPT], &ps);
    const Snapshot* s = worker_lock(t->w);
    if (s->msg_seq != t->seen_msg_seq) {  // a message from the worker replaces the UI's
        t->seen_msg_seq = s->msg_seq;
        snprintf(t->ui.msg, sizeof t->ui.msg, "%s", s->msg);
        t->ui.msg_error = s->msg_error;
    }
    if (t->ui.sel >= s->n) t->ui.sel = -1;
    screen_update(&t->scr, s, &t->ui);
    t->ui.msg_on_prompt = t->scr.msg_on_prompt;  // as laid out for this snapshot's block count
    canvas_clear(&t->cv, C_NORMAL);
    screen_draw(&t->scr, &t->cv, &t->ui);
    worker_unlock(t->w);
    if (!t->headless) crt_blit(&t->cv);
}

static void relayout(Tui* t, int rows, int cols) {
    canvas_resize(&t->cv, rows, cols);
    screen_layout(&t->scr, rows, cols);
    t->ui.compact = t->scr.layout == LAYOUT_COMPACT;
}

static double rss_mb(void) {
    FILE* f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    long pages = 0, res = 0;
    if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
    fclose(f);
    return res * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

// ---------------------------------------------------------------------------------------------
// set-up, main loop, tear-down

// What the glyphs and colours of the panels mean (the help's last section).
static const char* const LEGEND[] = {
    "Glyphs and colours",
    "LoRA ■■■■■ identity\tOutput: a token's tint is its identity share, from all LoRA (orange) to the adapter bypassed (blue)",
    "dimmed text\tOutput: generated under another p, mode, adapter or forcing; g or Enter on an empty prompt regenerates",
    "red background\tOutput: the first token where g's continuation at p leaves the p = 0 one",
    "i0 i1 │ 0 1 2\tidentity experts left of the rule, LoRA experts right; :force, --force and traces use these names",
    "· ░ ▒ ▓ █\tRouter: pi below .02, .25, .5, .75, up to 1 (the scale is under the grid); the colour ramps with it",
    "*  ●\tRouter: kept (top-k) expert; ● is a kept cell when cells are one column wide",
    "F3  off\tRouter: block forced to expert 3 (:force); no router at this block",
    "┃\tDistance: the d at which the yield makes an identity expert the top-1 (not drawn in lora-only mode)",
    "◂  ▸\tDistance: that point lies left / right of the bar's scale (one scale for the whole sequence)",
    "→id  ● ○\tDistance: d is past the point, identity wins; the nearest cluster centre among the centres",
    "· 0-9a-z\tSelection: identity experts dominate / the LoRA expert that does; ▼ marks the cursor's token",
    "≠\tLens: the adapter changes this block's top prediction",
    "ctx mean\tMasking: KL and top-1 agreement with p = 0 over p, averaged over the context (the KLs above: the cursor's token)",
    "▁▂▃▄▅▆▇█\tsparklines: d across the sequence; KL / agreement over p (the current p highlighted)",
    "blk 3-8/16 ↑↓\ta panel shows only these blocks of 16: Up/Down on it scroll",
    "NO_COLOR\tno colours: bold marks LoRA-heavy tokens, dim identity-heavy ones and stale text, reverse the cursor, underline the divergence",
    NULL,
};

static void build_help(Tui* t) {
    int cap = 128, n = 0;
    const char** h = xmalloc(cap * sizeof(char*));
    static char keylines[N_ACTIONS][200];
    h[n++] = "Keys on the panels (after Enter submits a prompt the focus is there; on the prompt only Tab, Esc, Ctrl-C, Ctrl-D and F1)";
    for (int i = 0; i < N_ACTIONS; i++) {
        if (!ACTIONS[i].keys) continue;
        snprintf(keylines[i], sizeof keylines[i], "%s\t%s", ACTIONS[i].keys, ACTIONS[i].help);
        h[n++] = keylines[i];
    }
    static char panel_lines[V_COUNT][8][200];
    for (int v = 0; v < V_COUNT; v++) {
        const ViewClass* k = t->scr.views[v]->klass;
        if (!k->keys_help) continue;
        static char heads[V_COUNT][64];
        snprintf(heads[v], sizeof heads[v], "%s panel", k->name);
        h[n++] = heads[v];
        const char* p = k->keys_help;
        for (int i = 0; i < 8 && *p; i++) {
            const char* e = strchr(p, '\n');
            int len = e ? (int)(e - p) : (int)strlen(p);
            char line[200];
            snprintf(line, sizeof line, "%.*s", len, p);
            char* gap = strstr(line, "  ");  // "KEYS  description" -> "KEYS\tdescription"
            if (gap) {
                *gap = 0;
                char* d = gap + 2;
                while (*d == ' ') d++;
                snprintf(panel_lines[v][i], sizeof panel_lines[v][i], "%.60s\t%.130s", line, d);
            } else {
                snprintf(panel_lines[v][i], sizeof panel_lines[v][i], "%s", line);
            }
            h[n++] = panel_lines[v][i];
            p = e ? e + 1 : p + len;
        }
    }
    h[n++] = "Commands (type at the prompt, Enter runs them)";
    n += commands_help(h + n, cap - n);
    for (int i = 0; LEGEND[i] && n < cap; i++) h[n++] = LEGEND[i];
    t->help = h;
    t->n_help = n;
    screen_set_help(&t->scr, h, n);
}

Tui* tui_new(Session* s, int headless, int rows, int cols) {
    Tui* t = xcalloc(1, sizeof *t);
    t->s = s;
    t->headless = headless;
    t->ui.sel = -1;
    t->ui.temp = 0;
    t->ui.top_p = 1;
    t->ui.n_new = 32;
    t->ui.p = s->run.mask_ratio;
    t->ui.mask_seed = s->run.mask_seed;
    t->ui.mode = s->run.mode;
    t->sent_sel = -1;
    t->wake[0] = t->wake[1] = -1;
    if (!headless && pipe(t->wake) == 0)
        for (int i = 0; i < 2; i++) {
            fcntl(t->wake[i], F_SETFL, fcntl(t->wake[i], F_GETFL) | O_NONBLOCK);
            fcntl(t->wake[i], F_SETFD, FD_CLOEXEC);
        }
    screen_init(&t->scr);
    screen_set_focus(&t->scr, headless ? V_OUTPUT : V_PROMPT);
    build_help(t);
    canvas_init(&t->cv, rows, cols);
    t->scr.n_layers = s->model.cfg.n_layers;
    relayout(t, rows, cols);
    t->w = worker_new(s, t->wake[1]);
    t->dirty = 1;
    return t;
}

void tui_free(Tui* t) {
    if (!t) return;
    worker_free(t->w);
    screen_free(&t->scr);
    canvas_free(&t->cv);
    free(t->help);
    for (int i = 0; i < 2; i++)
        if (t->wake[i] >= 0) close(t->wake[i]);
    if (g_tui == t) g_tui = NULL;
    free(t);
}

int tui_run(Tui* t) {
    Err err;
    if (crt_init(&err)) {
        fprintf(stderr, "slimscope: %s\n", err.msg);
        return 1;
    }
    readline_setup(t);
    int rows, cols;
    crt_size(&rows, &cols);
    relayout(t, rows, cols);
    tui_render(t);
    t->dirty = 0;
    double last_rss = 0, last_render = now_seconds();
    const double frame = TUI_FRAME_SECONDS;
    t->ui.rss_mb = rss_mb();
    while (!t->quit) {
        struct pollfd fds[3] = {{STDIN_FILENO, POLLIN, 0}, {t->wake[0], POLLIN, 0}, {crt_signal_fd(), POLLIN, 0}};
        int wait_ms = 500;
        if (t->dirty) {
            double left = last_render + frame - now_seconds();
            wait_ms = left > 0 ? (int)(left * 1e3) + 1 : 0;
        }
        poll(fds, 3, wait_ms);
        double t_in = now_seconds();
        int flags = 0, got_key = 0;
        if (fds[2].revents & POLLIN) crt_drain_signal_fd();
        int sig = crt_take_term_signal();
        // The terminal went away without a SIGHUP reaching us (e.g. under `make run`, where make
        // is the controlling process): stdin then polls as hung up forever, so leave as on SIGHUP.
        if (!sig && (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))) sig = SIGHUP;
        if (sig) {
            t->exit_signal = sig;
            break;
        }
        for (int k = crt_take_sigint(); k > 0; k--) flags |= act_ctrl_c(t, CTRL('C'));
        if (crt_take_resize()) {
            crt_size(&rows, &cols);
            relayout(t, rows, cols);
            flags |= ACT_REDRAW;
        }
        if (fds[1].revents & POLLIN) {
            char buf[256];
            while (read(t->wake[0], buf, sizeof buf) > 0) {}
            t->dirty = 1;
        }
        int key;
        while (!(flags & ACT_QUIT) && !t->quit && (key = crt_read_key()) >= 0) {
            got_key = 1;
            if (key == KEY_ESC && t->scr.focus == V_PROMPT && !t->ui.help) {
                int next = crt_read_key();  // Esc + key arriving together: a Meta key for readline
                if (next >= 0 && next < 256 && next != KEY_ESC) {
                    rlq_push(t, KEY_ESC);
                    rlq_push(t, next);
                    rl_pump(t);
                    continue;
                }
                if (next >= 0) crt_unread_key(next);
            }
            if (key == KEY_CODE_RESIZE) {
                crt_size(&rows, &cols);
                relayout(t, rows, cols);
            }
            flags |= tui_key(t, key);
        }
        if (flags & ACT_QUIT) t->quit = 1;
        if (flags & ACT_RERUN) worker_select(t->w, t->ui.sel);
        if (flags & ACT_REDRAW) t->dirty = 1;
        if (t_in - last_rss > 1) {
            last_rss = t_in;
            double r = rss_mb();
            if (fabs(r - t->ui.rss_mb) >= 1) t->dirty = 1;
            t->ui.rss_mb = r;
        }
        if (t->dirty && !t->quit && (got_key || flags || now_seconds() - last_render >= frame)) {
            t->dirty = 0;
            tui_render(t);
            last_render = now_seconds();
            if (got_key) t->ui.latency_ms = (last_render - t_in) * 1e3;
        }
    }
    readline_done(t);
    crt_done();  // the terminal is back before waiting for the worker to stop
    worker_cancel(t->w);
    return t->exit_signal ? 128 + t->exit_signal : 0;
}
