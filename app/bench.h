// bench.h: the measurements behind `slimscope bench` (app/bench_engine.c, the TUI's in
// app/cmd_bench.c); cmd_bench.c prints them.
#ifndef SLIMSCOPE_BENCH_H
#define SLIMSCOPE_BENCH_H

#include "forward.h"
#include "session.h"

double bench_median(double* v, int n);  // sorts v
void bench_rss_reset(void);
double bench_rss_peak_mb(void);

double bench_read_bandwidth_gbs(void);
double bench_gemm_gflops(WeightType t);  // F32 (OpenBLAS sgemm) or BF16 (widened tiles)

ModelConfig bench_shape_110m(void);
ModelConfig bench_shape_1b(void);
ModelConfig bench_shape_8b(void);
// dir (size n) <- the cached checkpoint `name` of shape c in dtype dt, written if missing.
int bench_checkpoint(char* dir, size_t n, const char* name, const ModelConfig* c, DType dt, Err* err);
size_t bench_bytes_per_token(const Model* m);

double bench_decode_seconds(const Model* m, const Adapter* a, const SlimRun* run, RunState* s, Trace* tr, int ctx, int n);
double bench_prefill_seconds(const Model* m, RunState* s, int n, int rounds, double* flops);

// The training table: tokens/s and the share of time in matmuls for the demo's shapes.
void train_bench(void);

// The TUI (app/cmd_bench.c): milliseconds from a change of p (the ']' / '[' keys) until the
// masking panel is drawn with the distributions at the new p; the median over reps changes, on
// the session's context (64 token ids are fed when it is empty). -1 on failure.
double tui_bench_p_change_ms(Session* s, int reps);

#endif
