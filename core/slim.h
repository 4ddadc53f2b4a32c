// slim.h: SLIM routing and the masked dynamic merge (shared/SLIM.md sections 2-4).
#ifndef SLIMSCOPE_SLIM_H
#define SLIMSCOPE_SLIM_H

#include "adapter.h"
#include "mask.h"

typedef enum { MODE_SLIM = 0, MODE_OFF, MODE_LORA_ONLY, MODE_IDENTITY_ONLY } AdapterMode;
const char* adapter_mode_name(AdapterMode m);
int adapter_mode_from_name(const char* s);  // -1 when unknown

// One numbering of the experts for every place a person reads or types one (panels, :force and
// --force, the trace's kept experts, profile): identity experts "i0", "i1", ..., LoRA experts
// "0", "1", ... counted among the LoRA experts. e is the router's index (identity experts first).
char* slim_expert_name(char* buf, size_t n, int n_id, int e);
// The router's index of the expert named s, or -1 when s names none of the n_experts.
int slim_expert_parse(const char* s, int n_id, int n_experts);
// The names that exist, for error messages: "LoRA 0..7 or identity i0..i1".
char* slim_expert_range(char* buf, size_t n, int n_id, int n_experts);

// Run-time controls, changeable between tokens without reloading the adapter.
typedef struct {
    AdapterMode mode;
    float mask_ratio;          // p in [0, 1)
    uint64_t mask_seed;
    MaskRefresh mask_refresh;
    int* force;                // (L) expert forced at each block (0..E-1), -1 = route normally; may be NULL
    unsigned char* layer_on;   // (L) 0 = adapter off at this block; may be NULL (all on)
    uint64_t step;             // epoch for REFRESH_PER_STEP
    // keep-sets cached for REFRESH_FIXED / REFRESH_PER_STEP: (L, E_lora, PROJ_COUNT); valid while
    // (cached_p, cached_seed, cached_epoch) match the run, otherwise masks are drawn on the fly.
    MaskSet* masks;
    int* mask_idx;
    float* mask_packed;        // storage of the packed kept parts of A and B
    float cached_p;
    uint64_t cached_seed, cached_epoch;
} SlimRun;

void slim_run_init(SlimRun* r, const Adapter* a, int n_layers);  // defaults from the adapter config
// Validates p (in [0, 1)) and rebuilds the cached keep-sets; call after changing p, seed or refresh.
int slim_run_prepare(SlimRun* r, const Adapter* a, Err* err);
void slim_run_free(SlimRun* r);

// One token's routing at one block (all arrays of length E = a->n_experts).
typedef struct {
    float* z;                  // raw router logits
    float* zy;                 // yielded logits z'
    float* pi;                 // softmax(z')
    float* w;                  // renormalised weights over the kept set, 0 elsewhere
    int nearest;               // j*
    float dist;                // d
    float id_share;            // sum of w over identity experts
} Route;

// Routes x (C) at block l (SLIM.md section 2, steps 1-6) under the run's mode and forcing.
// For a LoRA adapter the single expert always gets weight 1 (x is not read; it may be NULL).
void slim_route(Route* out, const float* x, const Adapter* a, const SlimRun* run, int l);
// The two halves of slim_route (SLIM adapters): steps 1-3, all that reads x (router logits z (E),
// nearest centre j*, distance d), which a backend computes where x lives (route_measure in
// backend.h); then steps 4-6 from out->z, out->nearest and out->dist.
void slim_route_measure(float* z, int* nearest, float* dist, const float* x, const Adapter* a, int l);
void slim_route_decide(Route* out, const Adapter* a, const SlimRun* run, int l);

// Nearest cluster and distance alone (steps 2-3); used by routing and by training's cluster update.
// distance: DIST_MAX (d = max_c |x - c_j*| / sigma_j* - 1) or DIST_RMS (d = sqrt(||x - c_j*||^2 / C)).
int slim_nearest(const float* x, const float* centers, const float* sigma, int n_clusters, int C, SlimDistance distance,
                 float* dist);

// Step 4's offset on the identity logits as a map of d: gamma * (d - offset) / span. The paper's
// form (yield_calibration "none") is offset 0, span 1; "quantile" is offset q50, span q90 - q50.
typedef struct {
    float gamma, offset, span;
} YieldMap;
YieldMap slim_yield_map(const Adapter* a, int l);
float slim_yield(YieldMap y, float d);
// The d at which the yield equals `offset` (NaN when gamma is 0): where identity overtakes a LoRA
// expert whose logit lies `offset` above the best identity logit.
float slim_yield_inverse(YieldMap y, float offset);

// y (out) += sum over experts with w[e] != 0 of w[e] * s * rescale * B'_e A'_e v, masked as SLIM.md
// section 4 says with keep-sets from the run (epoch = token position when per_token).
// For ADAPTER_LORA, w == NULL means weight 1 for its single expert. scratch: slim_scratch_floats
// floats, iscratch: in + out ints. Returns ||delta y||^2 so the trace can report the relative size.
float slim_apply_proj(float* y, const float* v, const Adapter* a, const SlimRun* run, int l, Proj p,
                      const float* w, int pos, float* scratch, int* iscratch);
// Scratch floats slim_apply_proj needs for a projection of rank r with in, out <= max_io.
size_t slim_scratch_floats(int r, int max_io);

#endif
