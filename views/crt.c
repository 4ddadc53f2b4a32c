// crt.c: terminal ownership (htop's CRT.c): curses init/done, the colour table, signal handlers,
// stderr captured while curses runs, and the restore on every exit path (normal, error, SIGTERM,
// SIGINT via the main loop, crash signals here).
#include "crt.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

const int KEY_CODE_LEFT = KEY_LEFT, KEY_CODE_RIGHT = KEY_RIGHT, KEY_CODE_UP = KEY_UP, KEY_CODE_DOWN = KEY_DOWN,
          KEY_CODE_HOME = KEY_HOME, KEY_CODE_END = KEY_END, KEY_CODE_PPAGE = KEY_PPAGE, KEY_CODE_NPAGE = KEY_NPAGE,
          KEY_CODE_BTAB = KEY_BTAB, KEY_CODE_RESIZE = KEY_RESIZE, KEY_CODE_F1 = KEY_F(1),
          KEY_CODE_BACKSPACE = KEY_BACKSPACE, KEY_CODE_DC = KEY_DC, KEY_CODE_ENTER = KEY_ENTER, KEY_CODE_IC = KEY_IC;

int crt_colors[COLOR_COUNT];

// ---------------------------------------------------------------------------------------------
// colour table: (fg, bg, extra attributes) for 256 colours, for 8 colours, and the monochrome attrs

typedef struct {
    short fg256, bg256;
    int attr256;
    short fg8, bg8;
    int attr8;
    int mono;
} ColorSpec;

#define D (-1)  // terminal default colour
static ColorSpec color_spec(int e) {
    switch ((ColorElement)e) {
    case C_NORMAL: return (ColorSpec){D, D, 0, D, D, 0, 0};
    case C_DIM: return (ColorSpec){244, D, 0, D, D, A_DIM, A_DIM};
    case C_BOLD: return (ColorSpec){D, D, A_BOLD, D, D, A_BOLD, A_BOLD};
    case C_TITLE: return (ColorSpec){252, 238, 0, COLOR_WHITE, COLOR_BLUE, 0, A_UNDERLINE};
    case C_TITLE_FOCUS: return (ColorSpec){16, 45, A_BOLD, COLOR_BLACK, COLOR_CYAN, 0, A_REVERSE | A_BOLD};
    case C_SEPARATOR: return (ColorSpec){240, D, 0, COLOR_BLUE, D, 0, A_DIM};
    case C_STATUS: return (ColorSpec){252, 236, 0, COLOR_WHITE, COLOR_BLUE, 0, A_REVERSE};
    case C_STATUS_KEY: return (ColorSpec){220, 236, A_BOLD, COLOR_YELLOW, COLOR_BLUE, A_BOLD, A_REVERSE | A_BOLD};
    case C_BUSY: return (ColorSpec){16, 214, A_BOLD, COLOR_BLACK, COLOR_YELLOW, 0, A_BOLD};
    case C_MESSAGE: return (ColorSpec){114, D, 0, COLOR_GREEN, D, 0, 0};
    case C_ERROR: return (ColorSpec){196, D, A_BOLD, COLOR_RED, D, A_BOLD, A_BOLD | A_UNDERLINE};
    case C_PROMPT: return (ColorSpec){255, D, A_BOLD, COLOR_WHITE, D, A_BOLD, A_BOLD};
    case C_PROMPT_DIM: return (ColorSpec){244, D, 0, D, D, A_DIM, A_DIM};
    case C_CURSOR_TOKEN: return (ColorSpec){D, D, A_REVERSE, D, D, A_REVERSE, A_REVERSE};
    case C_HELP: return (ColorSpec){252, 235, 0, COLOR_WHITE, COLOR_BLUE, 0, 0};
    case C_HELP_KEY: return (ColorSpec){220, 235, A_BOLD, COLOR_YELLOW, COLOR_BLUE, A_BOLD, A_BOLD};
    case C_SHARE_0: return (ColorSpec){208, D, 0, COLOR_RED, D, A_BOLD, A_BOLD};
    case C_SHARE_1: return (ColorSpec){215, D, 0, COLOR_YELLOW, D, 0, A_BOLD};
    case C_SHARE_2: return (ColorSpec){250, D, 0, D, D, 0, 0};
    case C_SHARE_3: return (ColorSpec){117, D, 0, COLOR_CYAN, D, 0, A_DIM};
    case C_SHARE_4: return (ColorSpec){39, D, 0, COLOR_BLUE, D, A_BOLD, A_DIM};
    case C_HEAT_0: return (ColorSpec){238, D, 0, COLOR_BLUE, D, A_DIM, 0};
    case C_HEAT_1: return (ColorSpec){24, D, 0, COLOR_BLUE, D, 0, 0};
    case C_HEAT_2: return (ColorSpec){31, D, 0, COLOR_CYAN, D, 0, 0};
    case C_HEAT_3: return (ColorSpec){37, D, 0, COLOR_CYAN, D, A_BOLD, 0};
    case C_HEAT_4: return (ColorSpec){72, D, 0, COLOR_GREEN, D, 0, 0};
    case C_HEAT_5: return (ColorSpec){107, D, 0, COLOR_GREEN, D, A_BOLD, 0};
    case C_HEAT_6: return (ColorSpec){178, D, 0, COLOR_YELLOW, D, 0, 0};
    case C_HEAT_7: return (ColorSpec){220, D, A_BOLD, COLOR_YELLOW, D, A_BOLD, A_BOLD};
    case C_ID_EXPERT: return (ColorSpec){39, D, 0, COLOR_BLUE, D, A_BOLD, 0};
    case C_LORA_EXPERT: return (ColorSpec){208, D, 0, COLOR_YELLOW, D, 0, A_BOLD};
    case C_KEPT: return (ColorSpec){255, D, A_BOLD, COLOR_WHITE, D, A_BOLD, A_BOLD};
    case C_SELECTED: return (ColorSpec){D, D, A_REVERSE, D, D, A_REVERSE, A_REVERSE};
    case C_BAR: return (ColorSpec){75, D, 0, COLOR_CYAN, D, 0, 0};
    case C_BAR_MARK: return (ColorSpec){196, D, A_BOLD, COLOR_RED, D, A_BOLD, A_BOLD};
    case C_NEAREST: return (ColorSpec){220, D, A_BOLD, COLOR_YELLOW, D, A_BOLD, A_BOLD};
    case C_SPARK: return (ColorSpec){75, D, 0, COLOR_CYAN, D, 0, 0};
    case C_SPARK_SEL: return (ColorSpec){220, D, A_REVERSE, COLOR_YELLOW, D, A_REVERSE, A_REVERSE};
    case C_LENS_SAME: return (ColorSpec){250, D, 0, D, D, 0, 0};
    case C_LENS_DIFF: return (ColorSpec){16, 214, 0, COLOR_BLACK, COLOR_YELLOW, 0, A_REVERSE};
    case C_CHART_KL: return (ColorSpec){203, D, 0, COLOR_RED, D, 0, 0};
    case C_CHART_AGREE: return (ColorSpec){114, D, 0, COLOR_GREEN, D, 0, 0};
    case C_CHART_CUR: return (ColorSpec){220, D, A_BOLD, COLOR_YELLOW, D, A_BOLD, A_BOLD | A_UNDERLINE};
    case C_DIVERGE: return (ColorSpec){255, 160, A_BOLD, COLOR_WHITE, COLOR_RED, A_BOLD, A_UNDERLINE | A_BOLD};
    case C_DIVERGE_STALE: return (ColorSpec){246, 52, 0, COLOR_WHITE, COLOR_RED, A_DIM, A_UNDERLINE | A_DIM};
    case C_SEL_ID: return (ColorSpec){39, D, 0, COLOR_BLUE, D, 0, A_DIM};
    case C_UNROUTED: return (ColorSpec){238, D, 0, D, D, A_DIM, A_DIM};
    case C_EXPERT_0: return (ColorSpec){208, D, A_BOLD, COLOR_YELLOW, D, A_BOLD, A_BOLD};
    case C_EXPERT_1: return (ColorSpec){141, D, A_BOLD, COLOR_MAGENTA, D, A_BOLD, A_BOLD};
    case C_EXPERT_2: return (ColorSpec){118, D, A_BOLD, COLOR_GREEN, D, A_BOLD, A_BOLD};
    case C_EXPERT_3: return (ColorSpec){203, D, A_BOLD, COLOR_RED, D, A_BOLD, A_BOLD};
    case C_EXPERT_4: return (ColorSpec){226, D, A_BOLD, COLOR_YELLOW, D, 0, A_BOLD};
    case C_EXPERT_5: return (ColorSpec){44, D, A_BOLD, COLOR_CYAN, D, A_BOLD, A_BOLD};
    case COLOR_COUNT: break;
    }
    return (ColorSpec){D, D, 0, D, D, 0, 0};
}
#undef D

static ColorMode g_mode = CRT_MONO;

static void colors_init(void) {
    const char* nc = getenv("NO_COLOR");  // https://no-color.org: present and non-empty disables colour
    const char* force = getenv("SLIMSCOPE_COLORS");  // 0, 8 or 256: override the detection (tests)
    g_mode = CRT_MONO;
    if (!(nc && *nc) && has_colors()) {
        start_color();
        use_default_colors();
        g_mode = COLORS >= 256 && COLOR_PAIRS >= COLOR_COUNT + 1 ? CRT_256 : CRT_8;
    }
    if (force && g_mode != CRT_MONO) {
        int f = atoi(force);
        if (f == 0) g_mode = CRT_MONO;
        else if (f == 8) g_mode = CRT_8;
    }
    for (int e = 0; e < COLOR_COUNT; e++) {
        ColorSpec s = color_spec(e);
        if (g_mode == CRT_MONO) {
            crt_colors[e] = s.mono;
            continue;
        }
        short fg = g_mode == CRT_256 ? s.fg256 : s.fg8, bg = g_mode == CRT_256 ? s.bg256 : s.bg8;
        int attr = g_mode == CRT_256 ? s.attr256 : s.attr8;
        int pair = e + 1;
        if (pair < COLOR_PAIRS && (fg != -1 || bg != -1) && init_pair((short)pair, fg, bg) == OK)
            crt_colors[e] = (int)COLOR_PAIR(pair) | attr;
        else
            crt_colors[e] = attr ? attr : s.mono;
    }
}

ColorMode crt_color_mode(void) { return g_mode; }

// ---------------------------------------------------------------------------------------------
// stderr capture, signals, and restore

static int g_active;                 // curses is running
static SCREEN* g_screen;
static int g_saved_stderr = -1;      // the real stderr while curses runs
static int g_err_fd = -1;            // temporary file that receives stderr meanwhile
static struct termios g_orig_tio;    // terminal modes before curses, restored on a crash as well
static int g_have_tio;
static int g_sig_pipe[2] = {-1, -1};
static volatile sig_atomic_t g_sigint, g_term_sig, g_winch;
static int g_inited_signals;
static char g_altstack[1 << 16];

static void restore_stderr(int print) {
    if (g_saved_stderr < 0) return;
    fflush(stderr);
    dup2(g_saved_stderr, 2);
    close(g_saved_stderr);
    g_saved_stderr = -1;
    if (g_err_fd >= 0) {
        if (print && lseek(g_err_fd, 0, SEEK_SET) == 0) {  // read()/write() only: also used from signal handlers
            char buf[4096];
            ssize_t k;
            while ((k = read(g_err_fd, buf, sizeof buf)) > 0)
                if (write(2, buf, (size_t)k) < 0) break;
        }
        close(g_err_fd);
        g_err_fd = -1;
    }
}

static void signal_write(int sig) {
    int e = errno;
    unsigned char b = (unsigned char)sig;
    if (g_sig_pipe[1] >= 0 && write(g_sig_pipe[1], &b, 1) < 0) {}
    errno = e;
}

static void on_async_signal(int sig) {
    if (sig == SIGINT) g_sigint++;
    else if (sig == SIGWINCH) g_winch = 1;
    else g_term_sig = sig;
    signal_write(sig);
}

// Crash: give the terminal back first, then let the default action (core dump) happen.
static void on_fatal_signal(int sig) {
    if (g_active) {
        g_active = 0;
        endwin();
        if (g_have_tio) tcsetattr(STDIN_FILENO, TCSANOW, &g_orig_tio);
    }
    restore_stderr(1);
    static const char msg[] = "slimscope: crashed with a fatal signal; the terminal was restored\n";
    if (write(2, msg, sizeof msg - 1) < 0) {}
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_signals(void) {
    if (g_inited_signals) return;
    g_inited_signals = 1;
    if (pipe(g_sig_pipe) == 0)
        for (int i = 0; i < 2; i++) {
            fcntl(g_sig_pipe[i], F_SETFL, fcntl(g_sig_pipe[i], F_GETFL) | O_NONBLOCK);
            fcntl(g_sig_pipe[i], F_SETFD, FD_CLOEXEC);
        }
    stack_t ss = {.ss_sp = g_altstack, .ss_size = sizeof g_altstack, .ss_flags = 0};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_async_signal;
    sa.sa_flags = SA_RESTART;
    int async_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGWINCH};
    for (size_t i = 0; i < sizeof async_sigs / sizeof async_sigs[0]; i++) sigaction(async_sigs[i], &sa, NULL);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
    int fatal_sigs[] = {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL};
    for (size_t i = 0; i < sizeof fatal_sigs / sizeof fatal_sigs[0]; i++) sigaction(fatal_sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static void crt_atexit(void) { crt_done(); }

int crt_init(Err* err) {
    setlocale(LC_ALL, "");
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) return err_set(err, "the TUI needs a terminal (stdin and stdout are not a tty)");
    g_have_tio = tcgetattr(STDIN_FILENO, &g_orig_tio) == 0;
    install_signals();  // before initscr, so that curses leaves SIGWINCH/SIGINT/SIGTERM to us
    // stderr -> temporary file while curses owns the screen (printed by crt_done)
    char path[] = "/tmp/slimscope-stderr-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
        unlink(path);
        fflush(stderr);
        g_saved_stderr = dup(2);
        g_err_fd = fd;
        dup2(fd, 2);
    }
    g_screen = newterm(NULL, stdout, stdin);
    if (!g_screen) {
        restore_stderr(1);
        return err_set(err, "cannot initialise the terminal (TERM=%s)", getenv("TERM") ? getenv("TERM") : "(unset)");
    }
    g_active = 1;
    atexit(crt_atexit);
    raw();  // Ctrl-C, Ctrl-S, Ctrl-Z arrive as keys; the main loop decides
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    intrflush(stdscr, FALSE);
    curs_set(0);
    colors_init();
    bkgdset(' ' | crt_colors[C_NORMAL]);
    clear();
    return 0;
}

void crt_done(void) {
    if (g_active) {
        g_active = 0;
        curs_set(1);
        endwin();
        delscreen(g_screen);
        g_screen = NULL;
    }
    restore_stderr(1);
}

int crt_active(void) { return g_active; }

void crt_fatal(const char* fmt, ...) {
    crt_done();
    va_list ap;
    va_start(ap, fmt);
    fputs("slimscope: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

void crt_size(int* rows, int* cols) {
    *rows = LINES;
    *cols = COLS;
}

int crt_take_resize(void) {
    if (!g_winch) return 0;
    g_winch = 0;
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) resizeterm(ws.ws_row, ws.ws_col);
    clearok(curscr, TRUE);
    return 1;
}

int crt_signal_fd(void) { return g_sig_pipe[0]; }

void crt_drain_signal_fd(void) {
    unsigned char b[64];
    while (g_sig_pipe[0] >= 0 && read(g_sig_pipe[0], b, sizeof b) > 0) {}
}

int crt_take_term_signal(void) {
    int s = g_term_sig;
    g_term_sig = 0;
    return s;
}

int crt_take_sigint(void) {
    int n = g_sigint;
    g_sigint = 0;
    return n;
}

int crt_read_key(void) {
    int ch = wgetch(stdscr);
    return ch == ERR ? -1 : ch;
}

void crt_unread_key(int key) { ungetch(key); }

int crt_wait_input(int timeout_ms) {
    struct pollfd fd = {STDIN_FILENO, POLLIN, 0};
    return poll(&fd, 1, timeout_ms) > 0;
}

void crt_invalidate(void) { clearok(curscr, TRUE); }

void crt_blit(const Canvas* c) {
    int rows = c->rows < LINES ? c->rows : LINES, cols = c->cols < COLS ? c->cols : COLS;
    for (int r = 0; r < rows; r++) {
        const Cell* row = c->cells + (size_t)r * c->cols;
        for (int x = 0; x < cols; x++) {
            if (row[x].ch == CANVAS_CONT) continue;
            int attr = crt_colors[row[x].color < COLOR_COUNT ? row[x].color : 0];
            wchar_t w[2] = {(wchar_t)row[x].ch, 0};
            cchar_t cc;
            setcchar(&cc, w, (attr_t)attr & ~A_COLOR, (short)PAIR_NUMBER(attr), NULL);
            mvadd_wch(r, x, &cc);
        }
    }
    if (c->cursor_row >= 0 && c->cursor_row < rows && c->cursor_col >= 0 && c->cursor_col < cols) {
        curs_set(1);
        move(c->cursor_row, c->cursor_col);
    } else {
        curs_set(0);
    }
    refresh();
}
