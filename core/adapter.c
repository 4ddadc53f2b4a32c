// adapter.c: load, validate, allocate and save SLIM adapters (shared/SLIM.md section 6) and plain
// PEFT LoRA adapters (held as one always-on LoRA expert).
#include "adapter.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char* REFRESH_NAMES[] = {"fixed", "per_token", "per_step"};
const char* mask_refresh_name(MaskRefresh r) { return REFRESH_NAMES[r]; }
int mask_refresh_from_name(const char* s) { return name_index(REFRESH_NAMES, 3, s); }

static const char* DISTANCE_NAMES[] = {"max", "rms"};
static const char* YCAL_NAMES[] = {"none", "quantile"};
const char* slim_distance_name(SlimDistance d) { return DISTANCE_NAMES[d]; }
const char* yield_calibration_name(YieldCalibration c) { return YCAL_NAMES[c]; }
int slim_distance_from_name(const char* s) { return name_index(DISTANCE_NAMES, 2, s); }
int yield_calibration_from_name(const char* s) { return name_index(YCAL_NAMES, 2, s); }

void adapter_spec_default(AdapterSpec* s) {
    memset(s, 0, sizeof *s);
    s->type = ADAPTER_SLIM;
    s->r = 16;
    s->lora_alpha = 32;
    s->n_id = 2;
    s->n_lora = 8;
    s->top_k = 2;
    s->n_clusters = 8;
    s->yield_scale = 1.0f;
    s->cluster_momentum = 0.01f;
    s->target_mask = (1u << PROJ_GATE) | (1u << PROJ_UP) | (1u << PROJ_DOWN);
}

// Sizes every tensor of layer l and, when base != NULL, points them into base. Returns floats used.
static size_t layout_layer(Adapter* a, const Model* m, int l, float* base) {
    AdapterLayer* al = &a->layers[l];
    size_t off = 0, E = a->n_experts, C = a->dim, N = a->n_clusters;
#define TAKE(ptr, count)                      \
    do {                                      \
        if (base) (ptr) = base + off;         \
        off += (count);                       \
    } while (0)
    if (a->type == ADAPTER_SLIM) {
        TAKE(al->router_w, E * C);
        if (a->router_bias) TAKE(al->router_b, E);
        TAKE(al->centers, N * C);
        TAKE(al->sigma, N * C);
        if (a->yield_calibration == YCAL_QUANTILE) TAKE(al->yield_q, 2);
    }
    for (int p = 0; p < PROJ_COUNT; p++) {
        if (!(a->target_mask & (1u << p))) continue;
        LoraProj* lp = &al->proj[p];
        lp->in = m->proj_in[p];
        lp->out = m->proj_out[p];
        if (!lp->r) lp->r = a->r;
        TAKE(lp->A, (size_t)a->n_lora * lp->r * lp->in);
        TAKE(lp->B, (size_t)a->n_lora * lp->out * lp->r);
    }
#undef TAKE
    return off;
}

// Allocates storage for the active layers once every LoraProj.r / scale is known.
static void adapter_layout(Adapter* a, const Model* m) {
    size_t total = 0;
    for (int l = 0; l < a->n_layers; l++)
        if (a->layers[l].active) total += layout_layer(a, m, l, NULL);
    a->storage = xcalloc(total ? total : 1, sizeof(float));
    a->n_params = total;
    size_t off = 0;
    for (int l = 0; l < a->n_layers; l++)
        if (a->layers[l].active) off += layout_layer(a, m, l, a->storage + off);
}

void adapter_alloc(Adapter* a, const Model* m, const AdapterSpec* s) {
    memset(a, 0, sizeof *a);
    a->type = s->type;
    a->n_layers = m->cfg.n_layers;
    a->dim = m->cfg.dim;
    a->r = s->r;
    a->lora_alpha = s->lora_alpha;
    if (s->type == ADAPTER_LORA) {
        a->n_id = 0;
        a->n_lora = 1;
        a->top_k = 1;
    } else {
        a->n_id = s->n_id;
        a->n_lora = s->n_lora;
        a->top_k = s->top_k;
        a->n_clusters = s->n_clusters;
        a->router_bias = s->router_bias;
        a->distance = s->distance;
        a->yield_calibration = s->yield_calibration;
    }
    a->n_experts = a->n_id + a->n_lora;
    a->yield_scale = s->yield_scale;
    a->cluster_momentum = s->cluster_momentum;
    a->target_mask = s->target_mask ? s->target_mask : (1u << PROJ_GATE) | (1u << PROJ_UP) | (1u << PROJ_DOWN);
    a->layers = xcalloc(a->n_layers, sizeof(AdapterLayer));
    for (int l = 0; l < a->n_layers; l++) a->layers[l].active = s->layers == NULL;
    for (int i = 0; s->layers && i < s->n_layer_list; i++)
        if (s->layers[i] >= 0 && s->layers[i] < a->n_layers) a->layers[s->layers[i]].active = 1;
    for (int l = 0; l < a->n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            a->layers[l].proj[p].r = a->r;
            a->layers[l].proj[p].scale = a->lora_alpha / (float)a->r;
        }
    adapter_layout(a, m);
}

void adapter_init_random(Adapter* a, float std, uint64_t seed) {
    Rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < a->n_params; i++) a->storage[i] = std * rng_normal(&r);
    for (int l = 0; l < a->n_layers; l++)
        if (a->layers[l].active && a->layers[l].sigma)
            for (int i = 0; i < a->n_clusters * a->dim; i++) a->layers[l].sigma[i] = 0.5f + rng_uniform(&r);
    for (int l = 0; l < a->n_layers; l++)
        if (a->layers[l].active && a->layers[l].yield_q) {  // q50 in [0, 1), q90 = q50 + [0.5, 1.5)
            a->layers[l].yield_q[0] = (float)rng_uniform(&r);
            a->layers[l].yield_q[1] = a->layers[l].yield_q[0] + 0.5f + (float)rng_uniform(&r);
        }
}

void adapter_free(Adapter* a) {
    free(a->storage);
    free(a->layers);
    memset(a, 0, sizeof *a);
}

// ---------------------------------------------------------------------------------------------
// loading

static int cfg_number(const cJSON* root, const char* key, double def, double* out, const char* path, Err* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v)) return err_set(err, "%s: field '%s' must be a number", path, key);
    // stored as float: 1e39 would become inf (and inf * 0 = NaN in the deltas)
    if (!isfinite((float)v->valuedouble))
        return err_set(err, "%s: field '%s' = %g must be a finite number", path, key, v->valuedouble);
    *out = v->valuedouble;
    return 0;
}

static int cfg_int(const cJSON* root, const char* key, int def, int lo, int* out, const char* path, Err* err) {
    double d;
    if (cfg_number(root, key, def, &d, path, err)) return -1;
    if (d != floor(d) || d < lo || d > 1e6) return err_set(err, "%s: field '%s' must be an integer >= %d", path, key, lo);
    *out = (int)d;
    return 0;
}

// A string field with a fixed set of names; missing or null: value 0 (the paper's form).
static int cfg_choice(const cJSON* root, const char* key, const char* expected, int (*from_name)(const char*),
                      const char* path, Err* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    int r = cJSON_IsString(v) ? from_name(v->valuestring) : -1;
    if (r < 0) return err_set(err, "%s: field '%s' must be %s", path, key, expected);
    return r;
}

// Checks that tensor `name` has shape d0 x d1 (d1 = 0 for a vector); with dst, also copies it there as
// float32, checking finiteness. The loaders check every tensor's shape before they allocate (so a
// config asking for huge ranks or expert counts fails on a tensor, not on the allocation), then copy.
static int load_tensor(float* dst, const StFile* f, const char* name, int64_t d0, int64_t d1, const char* what, Err* err) {
    const StTensor* t = st_find(f, name);
    if (!t) return err_set(err, "%s: missing tensor '%s'", f->path, name);
    int nd = d1 ? 2 : 1;
    if (t->ndim != nd || t->shape[0] != d0 || (nd == 2 && t->shape[1] != d1)) {
        char got[ST_MAX_DIMS * 21 + 8];
        st_shape_str(t, got, sizeof got);
        if (nd == 2)
            return err_set(err, "%s: tensor '%s' has shape [%s] but %s needs [%lld, %lld]", f->path, name, got, what,
                           (long long)d0, (long long)d1);
        return err_set(err, "%s: tensor '%s' has shape [%s] but %s needs [%lld]", f->path, name, got, what, (long long)d0);
    }
    if (!dst) return 0;
    st_to_f32(dst, t->data, t->dtype, t->numel);
    for (size_t i = 0; i < t->numel; i++)
        if (!isfinite(dst[i])) return err_set(err, "%s: tensor '%s' holds a non-finite value (NaN or inf) at %zu", f->path, name, i);
    return 0;
}

// PEFT pattern keys match a module name when the name ends with the key (at a '.' boundary).
static int pattern_matches(const char* module, const char* key) {
    size_t ml = strlen(module), kl = strlen(key);
    if (kl > ml) return 0;
    if (strcmp(module + ml - kl, key) != 0) return 0;
    return kl == ml || module[ml - kl - 1] == '.';
}

// PEFT's rank_pattern / alpha_pattern: an object whose keys are module patterns; the value of the
// last key matching module replaces *v (a finite number, checked).
static int pattern_value(const cJSON* pat, const char* field, const char* module, double* v, const char* path, Err* err) {
    if (!pat || cJSON_IsNull(pat)) return 0;
    if (!cJSON_IsObject(pat)) return err_set(err, "%s: field '%s' must be an object of module names and numbers", path, field);
    const cJSON* e;
    cJSON_ArrayForEach(e, pat) {
        if (!pattern_matches(module, e->string)) continue;
        if (!cJSON_IsNumber(e) || !isfinite((float)e->valuedouble))
            return err_set(err, "%s: %s entry '%s' must be a finite number", path, field, e->string);
        *v = e->valuedouble;
    }
    return 0;
}

static int parse_targets(const cJSON* tm, unsigned* mask, int slim, const char* path, Err* err) {
    *mask = 0;
    if (cJSON_IsString(tm)) {
        int p = proj_from_name(tm->valuestring);
        if (p < 0) return err_set(err, "%s: target_modules '%s' is not a projection name (expected e.g. [\"gate_proj\"])", path, tm->valuestring);
        *mask = 1u << p;
    } else if (cJSON_IsArray(tm)) {
        const cJSON* e;
        cJSON_ArrayForEach(e, tm) {
            int p = cJSON_IsString(e) ? proj_from_name(e->valuestring) : -1;
            if (p < 0)
                return err_set(err, "%s: target_modules entry '%s' is not one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj",
                               path, cJSON_IsString(e) ? e->valuestring : "?");
            *mask |= 1u << p;
        }
    } else if (tm && !cJSON_IsNull(tm)) {
        return err_set(err, "%s: field 'target_modules' must be a list of projection names", path);
    }
    if (!*mask) {
        if (!slim) return err_set(err, "%s: missing field 'target_modules'", path);
        *mask = (1u << PROJ_GATE) | (1u << PROJ_UP) | (1u << PROJ_DOWN);
    }
    if (slim && (*mask & ((1u << PROJ_Q) | (1u << PROJ_K) | (1u << PROJ_V) | (1u << PROJ_O))))
        return err_set(err, "%s: target_modules of a SLIM adapter must be MLP projections (gate_proj, up_proj, down_proj)", path);
    return 0;
}

// Every tensor of a SLIM adapter, block by block: with copy = 0 (before the layout) only the shapes
// are checked, with copy = 1 they are read into the adapter and checked for finite values, sigma > 0.
static int slim_tensors(Adapter* a, const Model* m, const StFile* f, int copy, Err* err) {
    for (int l = 0; l < a->n_layers; l++) {
        AdapterLayer* al = &a->layers[l];
        if (!al->active) continue;
        char name[256], what[64];
        const char* pre = "base_model.model.model.layers";
        snprintf(what, sizeof what, "E = %d experts x hidden %d", a->n_experts, a->dim);
        snprintf(name, sizeof name, "%s.%d.mlp.router.weight", pre, l);
        if (load_tensor(copy ? al->router_w : NULL, f, name, a->n_experts, a->dim, what, err)) return -1;
        if (a->router_bias) {
            snprintf(name, sizeof name, "%s.%d.mlp.router.bias", pre, l);
            if (load_tensor(copy ? al->router_b : NULL, f, name, a->n_experts, 0, "the router bias", err)) return -1;
        }
        snprintf(what, sizeof what, "num_clusters %d x hidden %d", a->n_clusters, a->dim);
        snprintf(name, sizeof name, "%s.%d.mlp.clusters.centers", pre, l);
        if (load_tensor(copy ? al->centers : NULL, f, name, a->n_clusters, a->dim, what, err)) return -1;
        snprintf(name, sizeof name, "%s.%d.mlp.clusters.sigma", pre, l);
        if (load_tensor(copy ? al->sigma : NULL, f, name, a->n_clusters, a->dim, what, err)) return -1;
        for (size_t i = 0; copy && i < (size_t)a->n_clusters * a->dim; i++)
            if (!(al->sigma[i] > 0)) return err_set(err, "%s: tensor '%s' must be > 0 everywhere (found %g)", f->path, name, al->sigma[i]);
        if (a->yield_calibration == YCAL_QUANTILE) {
            snprintf(name, sizeof name, "%s.%d.mlp.clusters.yield_quantiles", pre, l);
            if (load_tensor(copy ? al->yield_q : NULL, f, name, 2, 0, "yield_calibration \"quantile\" (q50, q90)", err)) return -1;
            if (copy && !(al->yield_q[1] > al->yield_q[0]))
                return err_set(err, "%s: tensor '%s' must hold q50 < q90 (found %g, %g)", f->path, name, al->yield_q[0],
                               al->yield_q[1]);
        }
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!(a->target_mask & (1u << p))) continue;
            LoraProj* lp = &al->proj[p];
            int r = lp->r, in = m->proj_in[p], out = m->proj_out[p];
            for (int k = 0; k < a->n_lora; k++) {
                snprintf(what, sizeof what, "r = %d on %s (%d -> %d)", r, PROJ_NAMES[p], in, out);
                snprintf(name, sizeof name, "%s.%d.mlp.%s.experts.%d.lora_A.weight", pre, l, PROJ_NAMES[p], k);
                if (load_tensor(copy ? lp->A + (size_t)k * r * in : NULL, f, name, r, in, what, err)) return -1;
                snprintf(name, sizeof name, "%s.%d.mlp.%s.experts.%d.lora_B.weight", pre, l, PROJ_NAMES[p], k);
                if (load_tensor(copy ? lp->B + (size_t)k * out * r : NULL, f, name, out, r, what, err)) return -1;
            }
        }
    }
    return 0;
}

static int load_slim(Adapter* a, const cJSON* root, const StFile* f, const Model* m, const char* path, Err* err) {
    int n_id, n_lora, top_k, n_clusters, seed;
    double alpha, mom, ys, mr;
    const cJSON* rb = cJSON_GetObjectItemCaseSensitive(root, "router_bias");
    const cJSON* mrf = cJSON_GetObjectItemCaseSensitive(root, "mask_refresh");
    // keys of this project's departures from the paper: missing means the paper's form
    int dist = cfg_choice(root, "distance", "\"max\" or \"rms\"", slim_distance_from_name, path, err);
    if (dist < 0) return -1;
    int ycal = cfg_choice(root, "yield_calibration", "\"none\" or \"quantile\"", yield_calibration_from_name, path, err);
    if (ycal < 0) return -1;
    a->distance = (SlimDistance)dist;
    a->yield_calibration = (YieldCalibration)ycal;
    if (cfg_int(root, "r", 16, 1, &a->r, path, err) || cfg_number(root, "lora_alpha", 32, &alpha, path, err) ||
        cfg_int(root, "num_identity_experts", 2, 0, &n_id, path, err) ||
        cfg_int(root, "num_lora_experts", 8, 1, &n_lora, path, err) || cfg_int(root, "top_k", 2, 1, &top_k, path, err) ||
        cfg_int(root, "num_clusters", 8, 1, &n_clusters, path, err) ||
        cfg_number(root, "cluster_momentum", 0.01, &mom, path, err) || cfg_number(root, "yield_scale", 1.0, &ys, path, err) ||
        cfg_number(root, "mask_ratio", 0.0, &mr, path, err) || cfg_int(root, "mask_seed", 0, 0, &seed, path, err))
        return -1;
    if (top_k > n_id + n_lora)
        return err_set(err, "%s: top_k = %d is larger than the number of experts E = %d", path, top_k, n_id + n_lora);
    if (!(mr >= 0 && mr < 1)) return err_set(err, "%s: mask_ratio = %g is outside [0, 1)", path, mr);
    if (ys < 0) return err_set(err, "%s: field 'yield_scale' = %g must be >= 0", path, ys);
    if (!(mom >= 0 && mom <= 1)) return err_set(err, "%s: field 'cluster_momentum' = %g is outside [0, 1]", path, mom);
    a->lora_alpha = (float)alpha;
    a->n_id = n_id;
    a->n_lora = n_lora;
    a->n_experts = n_id + n_lora;
    a->top_k = top_k;
    a->n_clusters = n_clusters;
    a->cluster_momentum = (float)mom;
    a->yield_scale = (float)ys;
    a->mask_ratio = (float)mr;
    a->mask_seed = (uint64_t)seed;
    a->router_bias = cJSON_IsTrue(rb);
    if (mrf && !cJSON_IsNull(mrf)) {
        int r = cJSON_IsString(mrf) ? mask_refresh_from_name(mrf->valuestring) : -1;
        if (r < 0) return err_set(err, "%s: mask_refresh must be \"fixed\", \"per_token\" or \"per_step\"", path);
        a->mask_refresh = (MaskRefresh)r;
    }
    if (parse_targets(cJSON_GetObjectItemCaseSensitive(root, "target_modules"), &a->target_mask, 1, path, err)) return -1;
    const cJSON* layers = cJSON_GetObjectItemCaseSensitive(root, "layers");
    if (layers && !cJSON_IsNull(layers)) {
        if (!cJSON_IsArray(layers)) return err_set(err, "%s: field 'layers' must be null or a list of block indices", path);
        const cJSON* e;
        cJSON_ArrayForEach(e, layers) {
            if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= a->n_layers || e->valuedouble != floor(e->valuedouble))
                return err_set(err, "%s: layers entry %g is not a block index of this model (0..%d)", path,
                               cJSON_IsNumber(e) ? e->valuedouble : -1.0, a->n_layers - 1);
            a->layers[(int)e->valuedouble].active = 1;
        }
    } else {
        for (int l = 0; l < a->n_layers; l++) a->layers[l].active = 1;
    }
    for (int l = 0; l < a->n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            a->layers[l].proj[p].r = a->r;
            a->layers[l].proj[p].scale = a->lora_alpha / a->r;
        }
    // The router's shape tells the adapter's hidden size: check it first for a clear message.
    for (int l = 0; l < a->n_layers; l++) {
        if (!a->layers[l].active) continue;
        char name[256];
        snprintf(name, sizeof name, "base_model.model.model.layers.%d.mlp.router.weight", l);
        const StTensor* t = st_find(f, name);
        if (t && t->ndim == 2 && t->shape[1] != a->dim)
            return err_set(err, "%s: adapter was made for hidden size %lld but the model has hidden size %d", f->path,
                           (long long)t->shape[1], a->dim);
    }
    if (slim_tensors(a, m, f, 0, err)) return -1;
    adapter_layout(a, m);
    if (slim_tensors(a, m, f, 1, err)) return -1;
    // Tensors for blocks the model does not have mean the adapter belongs to another model.
    for (int i = 0; i < f->n; i++) {
        int l;
        if (sscanf(f->tensors[i].name, "base_model.model.model.layers.%d.", &l) == 1 && l >= a->n_layers)
            return err_set(err, "%s: tensor '%s' is for block %d but the model has %d blocks", f->path, f->tensors[i].name, l,
                           a->n_layers);
    }
    return 0;
}

// Every tensor of a PEFT LoRA adapter; copy = 0 checks the shapes only (before the layout).
static int lora_tensors(Adapter* a, const Model* m, const StFile* f, unsigned mask, int copy, Err* err) {
    for (int l = 0; l < a->n_layers; l++) {
        if (!a->layers[l].active) continue;
        for (int p = 0; p < PROJ_COUNT; p++) {
            LoraProj* lp = &a->layers[l].proj[p];
            if (!(mask & (1u << p))) continue;
            char name[256], what[64];
            const char* grp = proj_is_mlp(p) ? "mlp" : "self_attn";
            int r = lp->r ? lp->r : a->r, in = m->proj_in[p], out = m->proj_out[p];
            snprintf(what, sizeof what, "r = %d on %s (%d -> %d)", r, PROJ_NAMES[p], in, out);
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.%s.lora_A.weight", l, grp, PROJ_NAMES[p]);
            if (load_tensor(copy ? lp->A : NULL, f, name, r, in, what, err)) return -1;
            snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.%s.lora_B.weight", l, grp, PROJ_NAMES[p]);
            if (load_tensor(copy ? lp->B : NULL, f, name, out, r, what, err)) return -1;
        }
    }
    return 0;
}

static int load_lora(Adapter* a, const cJSON* root, const StFile* f, const Model* m, const char* path, Err* err) {
    double alpha;
    if (cfg_int(root, "r", 8, 1, &a->r, path, err) || cfg_number(root, "lora_alpha", 8, &alpha, path, err)) return -1;
    a->lora_alpha = (float)alpha;
    a->n_id = 0;
    a->n_lora = a->n_experts = a->top_k = 1;
    a->use_rslora = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "use_rslora"));
    if (parse_targets(cJSON_GetObjectItemCaseSensitive(root, "target_modules"), &a->target_mask, 0, path, err)) return -1;
    const cJSON* rank_pat = cJSON_GetObjectItemCaseSensitive(root, "rank_pattern");
    const cJSON* alpha_pat = cJSON_GetObjectItemCaseSensitive(root, "alpha_pattern");
    int any = 0;
    for (int i = 0; i < f->n; i++) {
        int l;
        if (sscanf(f->tensors[i].name, "base_model.model.model.layers.%d.", &l) == 1 && l >= a->n_layers)
            return err_set(err, "%s: tensor '%s' is for block %d but the model has %d blocks", f->path, f->tensors[i].name, l,
                           a->n_layers);
    }
    // A block is adapted when it has tensors; each projection's r comes from rank_pattern or r.
    for (int l = 0; l < a->n_layers; l++) {
        for (int p = 0; p < PROJ_COUNT; p++) {
            LoraProj* lp = &a->layers[l].proj[p];
            char module[128], name[256];
            snprintf(module, sizeof module, "model.layers.%d.%s.%s", l, proj_is_mlp(p) ? "mlp" : "self_attn", PROJ_NAMES[p]);
            snprintf(name, sizeof name, "base_model.model.%s.lora_A.weight", module);
            if (!(a->target_mask & (1u << p)) || !st_find(f, name)) continue;
            a->layers[l].active = 1;
            any = 1;
            double r = a->r, al = a->lora_alpha;
            if (pattern_value(rank_pat, "rank_pattern", module, &r, path, err) ||
                pattern_value(alpha_pat, "alpha_pattern", module, &al, path, err))
                return -1;
            if (r != floor(r) || r < 1 || r > 1e6) return err_set(err, "%s: rank for %s must be an integer >= 1", path, module);
            lp->r = (int)r;
            lp->scale = a->use_rslora ? (float)al / sqrtf((float)r) : (float)al / lp->r;  // rsLoRA: alpha / sqrt(r)
        }
    }
    if (!any) return err_set(err, "%s: no lora_A tensors for the target modules (expected names like 'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight')", f->path);
    unsigned mask = a->target_mask;
    if (lora_tensors(a, m, f, mask, 0, err)) return -1;
    adapter_layout(a, m);
    return lora_tensors(a, m, f, mask, 1, err);
}

int adapter_load(Adapter* a, const char* dir, const Model* m, Err* err) {
    memset(a, 0, sizeof *a);
    snprintf(a->dir, sizeof a->dir, "%s", dir);
    a->n_layers = m->cfg.n_layers;
    a->dim = m->cfg.dim;
    a->layers = xcalloc(a->n_layers, sizeof(AdapterLayer));
    char path[4200], tpath[4200];
    path_join(path, sizeof path, dir, "adapter_config.json");
    char* text = read_json_file(path, err);
    if (!text) {
        adapter_free(a);
        return -1;
    }
    cJSON* root = cJSON_Parse(text);
    free(text);
    int rc = -1;
    StFile f = {0};
    if (!cJSON_IsObject(root)) {
        err_set(err, "%s: not a JSON object", path);
        goto done;
    }
    const cJSON* pt = cJSON_GetObjectItemCaseSensitive(root, "peft_type");
    if (!cJSON_IsString(pt) || (strcmp(pt->valuestring, "SLIM") != 0 && strcmp(pt->valuestring, "LORA") != 0)) {
        err_set(err, "%s: field 'peft_type' must be \"SLIM\" or \"LORA\"", path);
        goto done;
    }
    a->type = strcmp(pt->valuestring, "SLIM") == 0 ? ADAPTER_SLIM : ADAPTER_LORA;
    const cJSON* bm = cJSON_GetObjectItemCaseSensitive(root, "base_model_name_or_path");
    if (cJSON_IsString(bm)) snprintf(a->base_model, sizeof a->base_model, "%s", bm->valuestring);
    if (st_open(&f, path_join(tpath, sizeof tpath, dir, "adapter_model.safetensors"), err)) goto done;
    rc = a->type == ADAPTER_SLIM ? load_slim(a, root, &f, m, path, err) : load_lora(a, root, &f, m, path, err);
done:
    cJSON_Delete(root);
    st_close(&f);
    if (rc) adapter_free(a);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// saving

int adapter_save(const Adapter* a, const char* dir, DType dtype, Err* err) {
    if (mkdir_p(dir, err)) return -1;
    cJSON* r = cJSON_CreateObject();
    int slim = a->type == ADAPTER_SLIM;
    cJSON_AddStringToObject(r, "peft_type", slim ? "SLIM" : "LORA");
    cJSON_AddStringToObject(r, "base_model_name_or_path", a->base_model);
    cJSON_AddNumberToObject(r, "r", a->r);
    cJSON_AddNumberToObject(r, "lora_alpha", a->lora_alpha);
    cJSON* tm = cJSON_AddArrayToObject(r, "target_modules");
    for (int p = 0; p < PROJ_COUNT; p++)
        if (a->target_mask & (1u << p)) cJSON_AddItemToArray(tm, cJSON_CreateString(PROJ_NAMES[p]));
    if (slim) {
        cJSON_AddNumberToObject(r, "num_identity_experts", a->n_id);
        cJSON_AddNumberToObject(r, "num_lora_experts", a->n_lora);
        cJSON_AddNumberToObject(r, "top_k", a->top_k);
        cJSON_AddNumberToObject(r, "num_clusters", a->n_clusters);
        cJSON_AddNumberToObject(r, "cluster_momentum", a->cluster_momentum);
        cJSON_AddNumberToObject(r, "yield_scale", a->yield_scale);
        cJSON_AddNumberToObject(r, "mask_ratio", a->mask_ratio);
        cJSON_AddNumberToObject(r, "mask_seed", (double)a->mask_seed);
        cJSON_AddStringToObject(r, "mask_refresh", REFRESH_NAMES[a->mask_refresh]);
        cJSON_AddBoolToObject(r, "router_bias", a->router_bias);
        // written only when not the paper's form, so that paper-form adapters keep their bytes
        if (a->distance != DIST_MAX) cJSON_AddStringToObject(r, "distance", DISTANCE_NAMES[a->distance]);
        if (a->yield_calibration != YCAL_NONE)
            cJSON_AddStringToObject(r, "yield_calibration", YCAL_NAMES[a->yield_calibration]);
        int all = 1;
        for (int l = 0; l < a->n_layers; l++) all &= a->layers[l].active;
        if (all) {
            cJSON_AddNullToObject(r, "layers");
        } else {
            cJSON* ls = cJSON_AddArrayToObject(r, "layers");
            for (int l = 0; l < a->n_layers; l++)
                if (a->layers[l].active) cJSON_AddItemToArray(ls, cJSON_CreateNumber(l));
        }
    } else {
        cJSON_AddBoolToObject(r, "use_rslora", a->use_rslora);
        cJSON_AddStringToObject(r, "task_type", "CAUSAL_LM");
    }
    char* text = cJSON_Print(r);
    cJSON_Delete(r);
    // The weights go first and the config last, and an older config goes before either: whatever
    // fails, a directory never holds an adapter_config.json without its weights.
    char path[4200];
    path_join(path, sizeof path, dir, "adapter_config.json");
    if (unlink(path) != 0 && errno != ENOENT) {
        err_set(err, "%s: cannot replace: %s", path, strerror(errno));
        free(text);
        return -1;
    }

    int cap = 16, n = 0;
    StWrite* w = xmalloc(cap * sizeof *w);
    char** names = xmalloc(cap * sizeof *names);
#define PUSH(ptr, d0, d1, ...)                                                   \
    do {                                                                         \
        if (n == cap) {                                                          \
            cap *= 2;                                                            \
            w = xrealloc(w, cap * sizeof *w);                                    \
            names = xrealloc(names, cap * sizeof *names);                        \
        }                                                                        \
        names[n] = xmalloc(256);                                                 \
        snprintf(names[n], 256, __VA_ARGS__);                                    \
        w[n] = (StWrite){.name = names[n], .dtype = dtype, .ndim = (d1) ? 2 : 1, .shape = {(d0), (d1)}, .data = (ptr)}; \
        n++;                                                                     \
    } while (0)
    const char* pre = "base_model.model.model.layers";
    for (int l = 0; l < a->n_layers; l++) {
        const AdapterLayer* al = &a->layers[l];
        if (!al->active) continue;
        if (slim) {
            PUSH(al->router_w, a->n_experts, a->dim, "%s.%d.mlp.router.weight", pre, l);
            if (al->router_b) PUSH(al->router_b, a->n_experts, 0, "%s.%d.mlp.router.bias", pre, l);
            PUSH(al->centers, a->n_clusters, a->dim, "%s.%d.mlp.clusters.centers", pre, l);
            PUSH(al->sigma, a->n_clusters, a->dim, "%s.%d.mlp.clusters.sigma", pre, l);
            if (al->yield_q) PUSH(al->yield_q, 2, 0, "%s.%d.mlp.clusters.yield_quantiles", pre, l);
        }
        for (int p = 0; p < PROJ_COUNT; p++) {
            const LoraProj* lp = &al->proj[p];
            if (!lp->A) continue;
            const char* grp = proj_is_mlp(p) ? "mlp" : "self_attn";
            for (int k = 0; k < a->n_lora; k++) {
                if (slim) {
                    PUSH(lp->A + (size_t)k * lp->r * lp->in, lp->r, lp->in, "%s.%d.mlp.%s.experts.%d.lora_A.weight", pre, l, PROJ_NAMES[p], k);
                    PUSH(lp->B + (size_t)k * lp->out * lp->r, lp->out, lp->r, "%s.%d.mlp.%s.experts.%d.lora_B.weight", pre, l, PROJ_NAMES[p], k);
                } else {
                    PUSH(lp->A, lp->r, lp->in, "%s.%d.%s.%s.lora_A.weight", pre, l, grp, PROJ_NAMES[p]);
                    PUSH(lp->B, lp->out, lp->r, "%s.%d.%s.%s.lora_B.weight", pre, l, grp, PROJ_NAMES[p]);
                }
            }
        }
    }
#undef PUSH
    int rc = st_write(path_join(path, sizeof path, dir, "adapter_model.safetensors"), w, n, NULL, err);
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
    free(w);
    if (rc == 0) rc = write_file_atomic(path_join(path, sizeof path, dir, "adapter_config.json"), text, strlen(text), err);
    free(text);
    return rc;
}
