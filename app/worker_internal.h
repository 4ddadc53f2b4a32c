// worker_internal.h: the worker's state, shared by its two files: worker.c (thread, queue, jobs,
// publishing) and worker_background.c (comparisons and sweep). Not for use outside app/worker*.c.
#ifndef SLIMSCOPE_WORKER_INTERNAL_H
#define SLIMSCOPE_WORKER_INTERNAL_H

#include <pthread.h>

#include "worker.h"

#define SWEEP_POINTS 10        // p = 0, 0.1, ..., 0.9
#define SWEEP_FLOATS (1 << 22) // cap on positions x vocab held per sweep buffer

struct Worker {
    Session* s;
    pthread_t th;
    int started;
    pthread_mutex_t mu;        // queue and control fields
    pthread_cond_t cv;         // work for the worker
    pthread_cond_t idle_cv;    // the worker went idle / published
    Job* queue;
    int qn, qcap;
    int quit, running, idle;
    volatile int cancel;
    int want_pos;              // selection asked by the UI (-1: last token)
    pthread_mutex_t snap_mu;
    Snapshot snap;
    int wake_fd;
    char** vocab_text;         // (V) label of every id
    TokenStream ts;            // streaming decode of the context, for the output's text
    int ts_n;                  // context tokens pushed into ts
    // worker-private state (only the worker thread touches these after start)
    unsigned long tok_ver, run_ver, runx_ver;  // context changed / run changed / run changed apart from p
    int gen_start;
    int cmp_pos;
    unsigned long cmp_tok_ver, cmp_run_ver;
    int ref_pos;                                // key of the cached base / p = 0 logits
    unsigned long ref_tok_ver, ref_runx_ver;
    float *base_logits, *p0_logits, *cur_logits;
    int* lens_off_id;          // logit lens at ref_pos: adapter off, p = 0, current p
    float* lens_off_p;
    int* lens_p0_id;
    float* lens_p0_p;
    int* lens_on_id;
    float* lens_on_p;
    unsigned long sweep_tok_ver, sweep_runx_ver;
    int sweep_next, sweep_from;
    float *sweep_ref, *sweep_cur;
    double sweep_kl[SWEEP_MAX], sweep_agree[SWEEP_MAX];
    float sweep_p[SWEEP_MAX];
    Comparison cmpb;           // `:compare`: the context under A and B, for (cmpb_tok_ver, cmpb_run_ver, cmpb_b_ver)
    int cmpb_have, cmpb_pub_pos;                 // computed; the position last published (-1: none)
    unsigned long cmpb_tok_ver, cmpb_run_ver, cmpb_b_ver, b_ver;  // b_ver: bumped by each :compare
    double tok_per_s;
    SamplingSettings sampling; // of the last generation, for :save
    int sampled;               // 0 until the first generation
};

// worker.c: wakes the UI's poll(); the settings into the snapshot (caller holds snap_mu); a line on
// the message bar (error 1: shown as an error).
void worker_wake(Worker* w);
void worker_fill_settings(Worker* w);
void worker_message(Worker* w, int error, const char* text);

// worker_background.c
int worker_selected_pos(const Worker* w);               // the position asked for, or the last (-1: none)
int worker_compare_pending(const Worker* w, int pos);   // the comparison at pos is out of date
int worker_sweep_pending(const Worker* w);              // the sweep is out of date or unfinished
int worker_adapters_pending(const Worker* w, int pos);  // the :compare of two adapters is out of date at pos
int worker_derived_pending(const Worker* w);            // any of the three
void worker_compare(Worker* w, int pos);                // computes and publishes the comparison at pos
void worker_sweep_step(Worker* w);                      // one p of the sweep, published
void worker_compare_adapters(Worker* w, int pos);       // A against B on the context, published at pos

#endif
