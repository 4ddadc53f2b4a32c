// progress.c: see progress.h.
#include "progress.h"

#include <unistd.h>

#include "common.h"

void progress_begin_on(Progress* p, FILE* f, const char* what, const char* unit, long total) {
    *p = (Progress){f, what, unit, total, 0, 0};
}

void progress_begin(Progress* p, const char* what, const char* unit, long total) {
    progress_begin_on(p, isatty(STDERR_FILENO) ? stderr : NULL, what, unit, total);
}

void progress_step(Progress* p, long done) {
    if (!p->f) return;
    double t = now_seconds();
    if (p->shown && done < p->total && t - p->last < 0.1) return;
    p->last = t;
    p->shown = 1;
    // \033[K clears what a longer earlier line left
    fprintf(p->f, "\r%s: %ld/%ld %s (%d%%)\033[K", p->what, done, p->total, p->unit, p->total > 0 ? (int)(100 * done / p->total) : 100);
    fflush(p->f);
}

void progress_end(Progress* p) {
    if (p->f && p->shown) {
        fputs("\r\033[K", p->f);
        fflush(p->f);
    }
    p->shown = 0;
}
