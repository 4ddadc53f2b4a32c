// report.h: `slimscope report`: a trace (README "The trace") read back and drawn as one
// self-contained HTML page (inline SVG, no scripts, nothing fetched).
#ifndef SLIMSCOPE_REPORT_H
#define SLIMSCOPE_REPORT_H

#include <stdio.h>

#include "common.h"

// One cell of the tokens x blocks grid.
typedef struct {
    int routed;
    float id_share;
    float d;           // NaN where the block has no router
    float win_d;       // the d at which an identity expert becomes top-1; NaN where none does
    char dominant[8];  // the kept expert with the largest weight ("i0", "3"); "" where not routed
    char* kept;        // "3 0.62, i0 0.38": the kept experts and their weights (NULL: not routed)
} ReportCell;

// One row of `slimscope sweep`'s CSV.
typedef struct {
    float p, kl_p0, kl_base, agree_p0;
} SweepRow;

typedef struct {
    char* settings;    // the settings line as "key value · ..." text; NULL when the trace has none
    float mask_ratio;  // from the settings (NaN without them)
    int n_pos, n_layers, n_experts, n_id;
    int n_generated;
    int* token;        // (n_pos)
    char** text;       // (n_pos) token text as written in the trace
    unsigned char* generated;  // (n_pos)
    ReportCell* cell;  // (n_pos, n_layers)
    char* sweep_path;  // the sweep CSV given with --sweep (NULL: none)
    int n_sweep;
    SweepRow* sweep;
} Report;

// Reads a trace file ("-": standard input). On bad input: -1 and one line in err naming the file,
// the line and the field.
int report_read(Report* r, const char* path, Err* err);
void report_free(Report* r);
// Adds KL vs p from the CSV of `slimscope sweep` (columns found by name in its header line). On
// bad input: -1 and one line in err naming the file, the line and the column.
int report_read_sweep(Report* r, const char* path, Err* err);

// The page. Returns 0, or -1 when a write failed (ferror).
int report_write_html(const Report* r, FILE* f);

// Text as HTML character data or attribute value: & < > " ' escaped, a newline shown as U+21B5,
// other control characters and each byte that starts no valid UTF-8 character as U+FFFD.
void html_escape(FILE* f, const char* s);
// The identity-share colour scale: 0 (all LoRA) orange #d95f02, 0.5 grey #f7f7f7, 1 (identity)
// blue #2c7bb6, linear in between per channel; values outside [0, 1] are clamped, NaN is #cccccc.
void report_colour(float v, char out[8]);

#endif
