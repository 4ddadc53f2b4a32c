// worker.h: the engine thread of the TUI. It owns the Session while the TUI runs: the UI thread
// posts jobs (generate, change p, load, save, ...) and reads what the worker publishes into a
// Snapshot under a mutex that is never held during a forward pass, so keys are handled while the
// model runs. When the queue is empty the worker computes, in order, the next-token comparison
// (and adapter-off logit lens) for the selected position, the comparison with a second adapter
// (`:compare`) and the KL/agreement sweep over p.
#ifndef SLIMSCOPE_WORKER_H
#define SLIMSCOPE_WORKER_H

#include "session.h"
#include "snapshot.h"

typedef enum {
    JOB_SUBMIT = 0,            // text: the prompt (a new sequence unless append), of any length
    JOB_REGEN,                 // regenerate the last continuation at p, against p = 0
    JOB_SET_P,                 // f: masking ratio
    JOB_SET_MASK_SEED,         // a: mask seed
    JOB_SET_MODE,              // a: AdapterMode
    JOB_FORCE,                 // block a, expert b
    JOB_UNFORCE,               // block a (-1: every block)
    JOB_LOAD,                  // text: adapter directory (NULL = no adapter)
    JOB_SAVE,                  // text: JSONL path
    JOB_RESET,                 // clear the context
    JOB_COMPARE,               // text: a second adapter to compare with (NULL: compare off)
} JobKind;

typedef struct {
    JobKind kind;
    const char* text;          // worker_post keeps its own copy; the worker frees it after the job
    float f;
    long long a, b;
    // sampler for JOB_SUBMIT / JOB_REGEN
    float temp, top_p;
    int n_new;
    uint64_t seed;
    int append;                // JOB_SUBMIT: keep the context and add the prompt after it
} Job;

typedef struct Worker Worker;

// Fills the first snapshot from s and starts the thread. wake_fd (or -1) gets a byte after each
// publish so the UI's poll() wakes up.
Worker* worker_new(Session* s, int wake_fd);
// Stops a running generation, joins the thread and frees the worker (the Session stays open).
void worker_free(Worker* w);
// Queues a copy of the job, its text too (a JOB_SET_P right behind another replaces it).
void worker_post(Worker* w, const Job* j);
// Esc: stops the running generation after the current token, and the generations of the jobs
// already queued (their prompts are still read). Returns 1 if a job was running or queued.
int worker_cancel(Worker* w);
// The position the masking and lens panels describe (-1: the last token).
void worker_select(Worker* w, int pos);
// The published snapshot; hold the lock only to read it (update + draw).
const Snapshot* worker_lock(Worker* w);
void worker_unlock(Worker* w);
// 1 when nothing is queued, running or left to compute.
int worker_idle(Worker* w);
// Waits until idle (0) or timeout (-1).
int worker_wait_idle(Worker* w, double timeout_s);
// Waits until the snapshot version exceeds `version` (0) or timeout (-1).
int worker_wait_version(Worker* w, unsigned long version, double timeout_s);

#endif
