// cmd_report.c: `slimscope report TRACE.jsonl --out report.html`: the trace as one HTML page.
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "options.h"
#include "report.h"

typedef struct {
    const char *out, *sweep;
} ReportArgs;

static const Option REPORT_OPTIONS[] = {
    {"out", OPT_STR, offsetof(ReportArgs, out), "FILE.html", "the page to write ('-': standard output)"},
    {"sweep", OPT_STR, offsetof(ReportArgs, sweep), "FILE.csv", "KL vs p from the CSV of slimscope sweep (same settings)"},
    {NULL},
};

static const char* USAGE =
    "usage: slimscope report TRACE.jsonl --out FILE.html [--sweep FILE.csv]\n"
    "Writes one self-contained HTML page (inline SVG, nothing fetched) from a trace of `slimscope trace`\n"
    "or the TUI's :save: the settings line, tokens x blocks heat maps of the identity share and of the\n"
    "kept experts, and per block the distance d against the d at which identity wins; with --sweep,\n"
    "KL vs p. TRACE '-' is stdin.\n";

int cmd_report(int argc, char** argv) {
    // the trace is the one argument without a dash ("-" is standard input); the rest are options
    const char* trace = NULL;
    if (argc > 1 && (argv[1][0] != '-' || !argv[1][1])) {
        trace = argv[1];
        argv[1] = argv[0];
        argc--, argv++;
    }
    ReportArgs A = {0};
    OptionSet opts = {REPORT_OPTIONS, &A, NULL};
    int done_status = options_begin("report", &opts, 1, argc, argv, USAGE);
    if (done_status >= 0) return done_status;
    if (!trace || !A.out) {
        fprintf(stderr, "report: %s is required (usage: slimscope report TRACE.jsonl --out FILE.html)\n",
                trace ? "--out FILE.html" : "the trace file TRACE.jsonl");
        return 2;
    }
    Err err;
    Report r;
    if (report_read(&r, trace, &err)) {
        fprintf(stderr, "report: %s\n", err.msg);
        return 1;
    }
    AtomicFile af;
    int rc = 1;
    if (A.sweep && report_read_sweep(&r, A.sweep, &err)) goto done;
    if (atomic_open(&af, A.out, &err)) goto done;
    if (report_write_html(&r, af.f)) {
        atomic_abort(&af);
        err_set(&err, "%s: write failed", A.out);
        goto done;
    }
    if (atomic_commit(&af, &err)) goto done;
    fprintf(stderr, "wrote the report of %d positions x %d blocks to %s\n", r.n_pos, r.n_layers,
            strcmp(A.out, "-") ? A.out : "standard output");
    rc = 0;
done:
    if (rc) fprintf(stderr, "report: %s\n", err.msg);
    report_free(&r);
    return rc;
}
