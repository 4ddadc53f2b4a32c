// progress.h: the one progress line of a long batch job (profile, eval, sweep, trace) on stderr,
// redrawn in place ("\rprofile: 12/40 texts") at most 10 times a second and erased at the end.
// Only when stderr is a terminal: in a pipe or a log file nothing is written.
#ifndef SLIMSCOPE_PROGRESS_H
#define SLIMSCOPE_PROGRESS_H

#include <stdio.h>

typedef struct {
    FILE* f;                   // where the line goes; NULL: nowhere
    const char* what;          // the command
    const char* unit;          // what is counted ("texts")
    long total;
    double last;               // when it was last drawn
    int shown;                 // something is on the line
} Progress;

// Starts counting to total on stderr when it is a terminal.
void progress_begin(Progress* p, const char* what, const char* unit, long total);
// The same on f (NULL: nowhere), whatever f is (for tests).
void progress_begin_on(Progress* p, FILE* f, const char* what, const char* unit, long total);
// done of total finished: redraws the line unless it was drawn less than 0.1 s ago (the first and
// the last step are always drawn).
void progress_step(Progress* p, long done);
// Erases the line, so what the command prints next starts on a clean one.
void progress_end(Progress* p);

#endif
