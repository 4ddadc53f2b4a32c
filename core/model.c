// model.c: load a Hugging Face model directory (matrices used from the mmap in their dtype, widened
// to float32 or quantised to Q8_0), create random models, and save models (single file or shards).
// Tensor names follow transformers' Llama layout.
#include "model.h"

#include "rng.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

const char* const WEIGHTS_MODE_NAMES[3] = {"native", "f32", "q8"};

const char* const PROJ_NAMES[PROJ_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

int proj_from_name(const char* name) { return name_index(PROJ_NAMES, PROJ_COUNT, name); }

int proj_is_mlp(Proj p) { return p >= PROJ_GATE; }

// ---------------------------------------------------------------------------------------------
// the tensor table: every weight's HF name, shape and place in the single allocation

static void proj_shapes(const ModelConfig* c, int in[PROJ_COUNT], int out[PROJ_COUNT]) {
    int q = c->n_heads * c->head_dim, kv = c->n_kv_heads * c->head_dim;
    int ins[PROJ_COUNT] = {c->dim, c->dim, c->dim, q, c->dim, c->dim, c->hidden_dim};
    int outs[PROJ_COUNT] = {q, kv, kv, c->dim, c->hidden_dim, c->hidden_dim, c->dim};
    memcpy(in, ins, sizeof ins);
    memcpy(out, outs, sizeof outs);
}

static int has_bias(const ModelConfig* c, int p) {
    if (p <= PROJ_V) return c->attn_bias;
    if (p == PROJ_O) return c->o_bias;
    return c->mlp_bias;
}

// Tensor i of the table: name, where it goes (a float32 vector or a Weight), shape.
// Order: embed, layers..., norm, lm_head.
typedef struct {
    char name[128];
    float** vec;   // 1-D tensors (norms, biases): always float32
    Weight* mat;   // 2-D tensors
    int ndim;
    int64_t shape[2];
} TensorRef;

static size_t ref_numel(const TensorRef* r) { return (size_t)r->shape[0] * (r->ndim == 2 ? r->shape[1] : 1); }

static int tensor_table(const Model* cm, TensorRef* refs) {
    Model* m = (Model*)cm;
    const ModelConfig* c = &m->cfg;
    int n = 0;
#define ADD(vec_, mat_, d0, d1, nm_fmt, ...)                                       \
    do {                                                                         \
        if (refs) {                                                              \
            snprintf(refs[n].name, sizeof refs[n].name, nm_fmt, __VA_ARGS__);     \
            refs[n].vec = (vec_);                                                \
            refs[n].mat = (mat_);                                                \
            refs[n].ndim = (d1) ? 2 : 1;                                         \
            refs[n].shape[0] = (d0);                                             \
            refs[n].shape[1] = (d1);                                             \
        }                                                                        \
        n++;                                                                     \
    } while (0)
    ADD(NULL, &m->embed, c->vocab_size, c->dim, "model.embed_tokens.weight%s", "");
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights* w = m->layers ? &m->layers[l] : NULL;
        ADD(w ? &w->attn_norm : NULL, NULL, c->dim, 0, "model.layers.%d.input_layernorm.weight", l);
        for (int p = 0; p < PROJ_COUNT; p++) {
            const char* grp = proj_is_mlp(p) ? "mlp" : "self_attn";
            ADD(NULL, w ? &w->w[p] : NULL, m->proj_out[p], m->proj_in[p], "model.layers.%d.%s.%s.weight", l, grp, PROJ_NAMES[p]);
            if (has_bias(c, p)) ADD(w ? &w->b[p] : NULL, NULL, m->proj_out[p], 0, "model.layers.%d.%s.%s.bias", l, grp, PROJ_NAMES[p]);
        }
        ADD(w ? &w->mlp_norm : NULL, NULL, c->dim, 0, "model.layers.%d.post_attention_layernorm.weight", l);
    }
    ADD(&m->final_norm, NULL, c->dim, 0, "model.norm.weight%s", "");
    if (!c->tie_embeddings) ADD(NULL, &m->lm_head, c->vocab_size, c->dim, "lm_head.weight%s", "");
#undef ADD
    return n;
}

static TensorRef* tensor_refs(const Model* m, int* n) {
    *n = tensor_table(m, NULL);
    TensorRef* refs = xmalloc(*n * sizeof *refs);
    tensor_table(m, refs);
    return refs;
}

// Points tensor r at float32 data p.
static void ref_set_f32(const TensorRef* r, float* p) {
    if (r->vec) *r->vec = p;
    else *r->mat = (Weight){.data = p, .type = WEIGHT_F32, .rows = (int)r->shape[0], .cols = (int)r->shape[1]};
}

// Shapes and layers; storage holds every tensor as float32 (all = 1) or only the 1-D ones.
static void model_alloc(Model* m, const ModelConfig* cfg, int all) {
    m->cfg = *cfg;
    proj_shapes(cfg, m->proj_in, m->proj_out);
    m->layers = xcalloc(cfg->n_layers, sizeof(LayerWeights));
    int n;
    TensorRef* refs = tensor_refs(m, &n);
    size_t total = 0, owned = 0;
    for (int i = 0; i < n; i++) {
        total += ref_numel(&refs[i]);
        if (all || refs[i].vec) owned += ref_numel(&refs[i]);
    }
    m->storage = xcalloc(owned ? owned : 1, sizeof(float));
    m->n_params = total;
    m->owns_all = all;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (!all && !refs[i].vec) continue;
        ref_set_f32(&refs[i], m->storage + off);
        off += ref_numel(&refs[i]);
    }
    if (cfg->tie_embeddings && all) m->lm_head = m->embed;
    free(refs);
}

int model_tensor_count(const Model* m) { return tensor_table(m, NULL); }

const char* model_tensor_info(const Model* m, int i, char* name, size_t n, float** ptr, int* ndim, int64_t shape[2]) {
    int count;
    TensorRef* refs = tensor_refs(m, &count);
    snprintf(name, n, "%s", refs[i].name);
    *ptr = refs[i].vec ? *refs[i].vec : refs[i].mat->type == WEIGHT_F32 ? weight_f32(refs[i].mat) : NULL;
    *ndim = refs[i].ndim;
    shape[0] = refs[i].shape[0];
    shape[1] = refs[i].shape[1];
    free(refs);
    return name;
}

// ---------------------------------------------------------------------------------------------
// loading

// Opens model.safetensors, or every shard named in model.safetensors.index.json.
static int open_shards(const char* dir, StFile** files_out, int* n_out, Err* err) {
    char path[4200];
    path_join(path, sizeof path, dir, "model.safetensors");
    if (file_exists(path)) {
        *files_out = xcalloc(1, sizeof(StFile));
        *n_out = 1;
        return st_open(&(*files_out)[0], path, err);
    }
    path_join(path, sizeof path, dir, "model.safetensors.index.json");
    if (!file_exists(path)) return err_set(err, "%s: no model.safetensors or model.safetensors.index.json", dir);
    char* text = read_file_text(path, NULL, err);
    if (!text) return -1;
    cJSON* root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set(err, "%s: not a JSON object", path);
    }
    const cJSON* map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return err_set(err, "%s: missing object field 'weight_map'", path);
    }
    // Distinct shard file names, in order of first appearance.
    int cap = 8, n = 0;
    char** names = xmalloc(cap * sizeof *names);
    const cJSON* e;
    cJSON_ArrayForEach(e, map) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/')) {
            err_set(err, "%s: weight_map['%s'] must be a file name in the model directory", path, e->string);
            for (int i = 0; i < n; i++) free(names[i]);
            free(names);
            cJSON_Delete(root);  // after the message: e->string lives in root
            return -1;
        }
        int seen = 0;
        for (int i = 0; i < n && !seen; i++) seen = strcmp(names[i], e->valuestring) == 0;
        if (seen) continue;
        if (n == cap) names = xrealloc(names, (cap *= 2) * sizeof *names);
        names[n++] = xstrdup(e->valuestring);
    }
    cJSON_Delete(root);
    StFile* files = xcalloc(n ? n : 1, sizeof(StFile));
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char sp[4200];
        path_join(sp, sizeof sp, dir, names[i]);
        if (rc == 0 && st_open(&files[i], sp, err)) rc = -1;
        free(names[i]);
    }
    free(names);
    *files_out = files;
    *n_out = n;
    return rc;
}

static void* model_own(Model* m, size_t bytes) {
    m->owned = xrealloc(m->owned, (m->n_owned + 1) * sizeof *m->owned);
    return m->owned[m->n_owned++] = xmalloc(bytes ? bytes : 1);
}

static WeightType weight_type_of(DType d) { return d == DT_F16 ? WEIGHT_F16 : d == DT_BF16 ? WEIGHT_BF16 : WEIGHT_F32; }

// The tensor as stored, straight from the mapping (float32 data off a 4-byte boundary is copied:
// the safetensors header length does not have to keep it aligned).
static void weight_from_file(Model* m, Weight* w, const StTensor* t) {
    *w = (Weight){.data = t->data, .type = weight_type_of(t->dtype), .rows = (int)t->shape[0], .cols = (int)t->shape[1]};
    if (w->type == WEIGHT_F32 && (uintptr_t)t->data % sizeof(float)) {
        void* copy = model_own(m, t->nbytes);
        memcpy(copy, t->data, t->nbytes);
        w->data = copy;
    }
}

// Drops the whole pages of a mapped range from the resident set (a private read-only file mapping
// reads them back from the file if they are touched again).
static void release_pages(const void* p, size_t n) {
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + page - 1) / page * page, b = ((uintptr_t)p + n) / page * page;
    if (b > a) madvise((void*)a, b - a, MADV_DONTNEED);
}

// The tensor quantised to Q8_0 (rows whose length is not a multiple of Q8_BLOCK stay as stored).
// The mapped pages it was read from are released: only the quantised copy stays resident.
static void weight_quantized(Model* m, Weight* w, const StTensor* t) {
    int rows = (int)t->shape[0], cols = (int)t->shape[1];
    if (cols % Q8_BLOCK) {
        weight_from_file(m, w, t);
        return;
    }
    Weight src;
    weight_from_file(m, &src, t);
    int8_t* q = model_own(m, (size_t)rows * cols);
    float* scale = model_own(m, (size_t)rows * cols / Q8_BLOCK * sizeof(float));
    enum { CHUNK = 64 };
#pragma omp parallel for schedule(static)
    for (int r = 0; r < rows; r += CHUNK) {
        int nr = rows - r < CHUNK ? rows - r : CHUNK;
        float* tmp = xmalloc((size_t)nr * cols * sizeof(float));
        for (int k = 0; k < nr; k++) weight_row(tmp + (size_t)k * cols, &src, r + k);
        q8_quantize(q + (size_t)r * cols, scale + (size_t)r * cols / Q8_BLOCK, tmp, nr, cols);
        free(tmp);
    }
    release_pages(t->data, t->nbytes);
    *w = (Weight){.data = q, .scale = scale, .type = WEIGHT_Q8, .rows = rows, .cols = cols};
}

int model_load_as(Model* m, const char* dir, WeightsMode mode, Err* err) {
    memset(m, 0, sizeof *m);
    snprintf(m->dir, sizeof m->dir, "%s", dir);
    char path[4200];
    ModelConfig cfg;
    if (config_load(&cfg, path_join(path, sizeof path, dir, "config.json"), err)) return -1;
    StFile* files = NULL;
    int nf = 0;
    if (open_shards(dir, &files, &nf, err)) {
        for (int i = 0; i < nf; i++) st_close(&files[i]);
        free(files);
        return -1;
    }
    m->mode = mode;
    model_alloc(m, &cfg, mode == WEIGHTS_F32);
    m->n_shards = nf;
    m->files = files;
    m->n_files = nf;
    int n;
    TensorRef* refs = tensor_refs(m, &n);
    int rc = 0;
    const StTensor* embed_t = NULL;
    for (int i = 0; i < n && rc == 0; i++) {
        const StTensor* t = NULL;
        const char* fname = NULL;
        for (int f = 0; f < nf && !t; f++) {
            t = st_find(&files[f], refs[i].name);
            fname = files[f].path;
        }
        if (!t) {
            rc = err_set(err, "%s: missing tensor '%s' (required by config.json)", nf == 1 ? files[0].path : dir, refs[i].name);
            break;
        }
        int shape_ok = t->ndim == refs[i].ndim && t->shape[0] == refs[i].shape[0] &&
                       (refs[i].ndim == 1 || t->shape[1] == refs[i].shape[1]);
        if (!shape_ok) {
            char got[64] = "";
            for (int d = 0; d < t->ndim; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
            if (refs[i].ndim == 2)
                rc = err_set(err, "%s: tensor '%s' has shape [%s] but config.json implies [%lld, %lld]", fname, refs[i].name,
                             got, (long long)refs[i].shape[0], (long long)refs[i].shape[1]);
            else
                rc = err_set(err, "%s: tensor '%s' has shape [%s] but config.json implies [%lld]", fname, refs[i].name, got,
                             (long long)refs[i].shape[0]);
            break;
        }
        // NaN/inf weights would only show up as NaN logits: refused here, on the stored bits, before
        // any conversion (one vectorised read; in native mode it also pages the mapping in).
        size_t bad = st_find_nonfinite(t->data, t->dtype, t->numel);
        if (bad < t->numel) {
            rc = err_set(err, "%s: tensor '%s' holds a non-finite value (NaN or inf) at element %zu", fname, refs[i].name, bad);
            break;
        }
        if (i == 0) m->file_dtype = t->dtype, embed_t = t;
        if (refs[i].vec) st_to_f32(*refs[i].vec, t->data, t->dtype, t->numel);
        else if (mode == WEIGHTS_F32) st_to_f32(weight_f32(refs[i].mat), t->data, t->dtype, t->numel);
        else if (mode == WEIGHTS_Q8 && i != 0) weight_quantized(m, refs[i].mat, t);
        else weight_from_file(m, refs[i].mat, t);
    }
    if (rc == 0 && cfg.tie_embeddings && mode != WEIGHTS_F32) {
        if (mode == WEIGHTS_Q8) weight_quantized(m, &m->lm_head, embed_t);  // the embedding itself stays as stored
        else m->lm_head = m->embed;
    }
    free(refs);
    if (mode == WEIGHTS_F32 || rc) {  // nothing points into the files any more
        for (int i = 0; i < nf; i++) st_close(&files[i]);
        free(files);
        m->files = NULL;
        m->n_files = 0;
    }
    if (rc) model_free(m);
    return rc;
}

int model_load(Model* m, const char* dir, Err* err) { return model_load_as(m, dir, WEIGHTS_NATIVE, err); }

void model_init_random(Model* m, const ModelConfig* cfg, float std, uint64_t seed) {
    memset(m, 0, sizeof *m);
    model_alloc(m, cfg, 1);
    m->mode = WEIGHTS_F32;
    m->file_dtype = DT_F32;
    Rng r;
    rng_seed(&r, seed);
    int n;
    TensorRef* refs = tensor_refs(m, &n);
    for (int i = 0; i < n; i++) {
        float* p = refs[i].vec ? *refs[i].vec : weight_f32(refs[i].mat);
        size_t numel = ref_numel(&refs[i]);
        int is_norm = strstr(refs[i].name, "norm") != NULL;
        for (size_t k = 0; k < numel; k++) p[k] = is_norm ? 1.0f : refs[i].ndim == 1 ? 0.0f : std * rng_normal(&r);
    }
    free(refs);
}

void model_free(Model* m) {
    free(m->storage);
    free(m->layers);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    for (int i = 0; i < m->n_files; i++) st_close(&m->files[i]);
    free(m->files);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------------------------------------
// saving

int model_save(const Model* m, const char* dir, DType dtype, int shards, Err* err) {
    if (mkdir_p(dir, err)) return -1;
    // config.json goes last and an older one first: whatever fails, no config.json without weights.
    char path[4200];
    if (unlink(path_join(path, sizeof path, dir, "config.json")) != 0 && errno != ENOENT)
        return err_set(err, "%s: cannot replace: %s", path, strerror(errno));
    int n;
    TensorRef* refs = tensor_refs(m, &n);
    StWrite* w = xcalloc(n, sizeof *w);
    float** widened = xcalloc(n, sizeof *widened);  // float32 copies of matrices held in another dtype
    for (int i = 0; i < n; i++) {
        w[i].name = refs[i].name;
        w[i].dtype = dtype;
        w[i].ndim = refs[i].ndim;
        w[i].shape[0] = refs[i].shape[0];
        w[i].shape[1] = refs[i].shape[1];
        const Weight* mat = refs[i].mat;
        if (refs[i].vec) {
            w[i].data = *refs[i].vec;
        } else if (mat->type == WEIGHT_F32) {
            w[i].data = weight_f32(mat);
        } else {
            widened[i] = xmalloc(ref_numel(&refs[i]) * sizeof(float));
            for (int r = 0; r < mat->rows; r++) weight_row(widened[i] + (size_t)r * mat->cols, mat, r);
            w[i].data = widened[i];
        }
    }
    const char* md[] = {"format", "pt", NULL};
    int rc = 0;
    if (shards <= 1) {
        rc = st_write(path_join(path, sizeof path, dir, "model.safetensors"), w, n, md, err);
    } else {
        // Contiguous runs of tensors per shard; the index maps each name to its file.
        cJSON* idx = cJSON_CreateObject();
        cJSON* meta = cJSON_AddObjectToObject(idx, "metadata");
        size_t total = 0;
        for (int i = 0; i < n; i++) total += (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1) * dtype_size(dtype);
        cJSON_AddNumberToObject(meta, "total_size", (double)total);
        cJSON* map = cJSON_AddObjectToObject(idx, "weight_map");
        for (int s = 0; s < shards && rc == 0; s++) {
            int lo = (int)((long)n * s / shards), hi = (int)((long)n * (s + 1) / shards);
            char fname[64];
            snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", s + 1, shards);
            for (int i = lo; i < hi; i++) cJSON_AddStringToObject(map, refs[i].name, fname);
            rc = st_write(path_join(path, sizeof path, dir, fname), w + lo, hi - lo, md, err);
        }
        char* text = cJSON_Print(idx);
        cJSON_Delete(idx);
        if (rc == 0) rc = write_file_atomic(path_join(path, sizeof path, dir, "model.safetensors.index.json"), text, strlen(text), err);
        free(text);
    }
    for (int i = 0; i < n; i++) free(widened[i]);
    free(widened);
    free(w);
    free(refs);
    if (rc == 0) {
        ModelConfig cfg = m->cfg;
        snprintf(cfg.torch_dtype, sizeof cfg.torch_dtype, "%s", dtype == DT_F32 ? "float32" : dtype == DT_F16 ? "float16" : "bfloat16");
        rc = config_save(&cfg, path_join(path, sizeof path, dir, "config.json"), err);
    }
    return rc;
}

// ---------------------------------------------------------------------------------------------
// random checkpoints written as they are made (the benchmark's 1B and 8B shapes)

typedef struct {
    uint64_t key;
    float amp;   // uniform in [-amp, amp]; 0: the constant `value`
    float value;
} RandomFill;

static void random_fill(float* dst, size_t start, size_t n, const void* ctx) {
    const RandomFill* f = ctx;
    for (size_t i = 0; i < n; i++) {
        if (f->amp == 0) {
            dst[i] = f->value;
            continue;
        }
        uint64_t h = rng_hash(f->key, start + i);
        dst[i] = f->amp * (float)((double)(h >> 11) * (2.0 / 9007199254740992.0) - 1.0);
    }
}

int model_write_random(const ModelConfig* cfg, const char* dir, DType dtype, float std, uint64_t seed, Err* err) {
    if (mkdir_p(dir, err)) return -1;
    Model m = {0};  // no storage: the table gives names and shapes only
    m.cfg = *cfg;
    proj_shapes(cfg, m.proj_in, m.proj_out);
    int n;
    TensorRef* refs = tensor_refs(&m, &n);
    StWrite* w = xcalloc(n, sizeof *w);
    RandomFill* fills = xcalloc(n, sizeof *fills);
    for (int i = 0; i < n; i++) {
        int is_norm = strstr(refs[i].name, "norm") != NULL;
        fills[i] = (RandomFill){rng_hash(seed, (uint64_t)i), refs[i].ndim == 2 ? std * 1.7320508f : 0, is_norm ? 1.0f : 0.0f};
        w[i] = (StWrite){.name = refs[i].name, .dtype = dtype, .ndim = refs[i].ndim, .fill = random_fill, .fill_ctx = &fills[i]};
        w[i].shape[0] = refs[i].shape[0];
        w[i].shape[1] = refs[i].shape[1];
    }
    char path[4200];
    ModelConfig c = *cfg;
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "%s", dtype == DT_F32 ? "float32" : dtype == DT_F16 ? "float16" : "bfloat16");
    const char* md[] = {"format", "pt", NULL};
    int rc = config_save(&c, path_join(path, sizeof path, dir, "config.json"), err);
    if (rc == 0) rc = st_write(path_join(path, sizeof path, dir, "model.safetensors"), w, n, md, err);
    free(fills);
    free(w);
    free(refs);
    return rc;
}
