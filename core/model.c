// model.c: load a Hugging Face model directory into float32 weights (one allocation), create random
// models, and save models (single file or shards). Tensor names follow transformers' Llama layout.
#include "model.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char* const PROJ_NAMES[PROJ_COUNT] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

int proj_from_name(const char* name) {
    for (int p = 0; p < PROJ_COUNT; p++)
        if (strcmp(name, PROJ_NAMES[p]) == 0) return p;
    return -1;
}

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

// Tensor i of the table: name, pointer slot, shape. Order: embed, layers..., norm, lm_head.
typedef struct {
    char name[128];
    float** slot;
    int ndim;
    int64_t shape[2];
} TensorRef;

static int tensor_table(const Model* cm, TensorRef* refs) {
    Model* m = (Model*)cm;
    const ModelConfig* c = &m->cfg;
    int n = 0;
#define ADD(nm_fmt, slot_, d0, d1, ...)                                           \
    do {                                                                         \
        if (refs) {                                                              \
            snprintf(refs[n].name, sizeof refs[n].name, nm_fmt, __VA_ARGS__);     \
            refs[n].slot = (slot_);                                              \
            refs[n].ndim = (d1) ? 2 : 1;                                         \
            refs[n].shape[0] = (d0);                                             \
            refs[n].shape[1] = (d1);                                             \
        }                                                                        \
        n++;                                                                     \
    } while (0)
    ADD("model.embed_tokens.weight%s", &m->embed, c->vocab_size, c->dim, "");
    for (int l = 0; l < c->n_layers; l++) {
        LayerWeights* w = m->layers ? &m->layers[l] : NULL;
        ADD("model.layers.%d.input_layernorm.weight", w ? &w->attn_norm : NULL, c->dim, 0, l);
        for (int p = 0; p < PROJ_COUNT; p++) {
            const char* grp = proj_is_mlp(p) ? "mlp" : "self_attn";
            ADD("model.layers.%d.%s.%s.weight", w ? &w->w[p] : NULL, m->proj_out[p], m->proj_in[p], l, grp, PROJ_NAMES[p]);
            if (has_bias(c, p)) ADD("model.layers.%d.%s.%s.bias", w ? &w->b[p] : NULL, m->proj_out[p], 0, l, grp, PROJ_NAMES[p]);
        }
        ADD("model.layers.%d.post_attention_layernorm.weight", w ? &w->mlp_norm : NULL, c->dim, 0, l);
    }
    ADD("model.norm.weight%s", &m->final_norm, c->dim, 0, "");
    if (!c->tie_embeddings) ADD("lm_head.weight%s", &m->lm_head, c->vocab_size, c->dim, "");
#undef ADD
    return n;
}

// Allocates storage and points every weight into it.
static void model_alloc(Model* m, const ModelConfig* cfg) {
    m->cfg = *cfg;
    proj_shapes(cfg, m->proj_in, m->proj_out);
    m->layers = xcalloc(cfg->n_layers, sizeof(LayerWeights));
    int n = tensor_table(m, NULL);
    TensorRef* refs = xmalloc(n * sizeof *refs);
    tensor_table(m, refs);
    size_t total = 0;
    for (int i = 0; i < n; i++) total += refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    m->storage = xcalloc(total, sizeof(float));
    m->n_params = total;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        *refs[i].slot = m->storage + off;
        off += refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    }
    if (cfg->tie_embeddings) m->lm_head = m->embed;
    free(refs);
}

int model_tensor_count(const Model* m) { return tensor_table(m, NULL); }

const char* model_tensor_info(const Model* m, int i, char* name, size_t n, float** ptr, int* ndim, int64_t shape[2]) {
    int count = tensor_table(m, NULL);
    TensorRef* refs = xmalloc(count * sizeof *refs);
    tensor_table(m, refs);
    snprintf(name, n, "%s", refs[i].name);
    *ptr = *refs[i].slot;
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

int model_load(Model* m, const char* dir, Err* err) {
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
    model_alloc(m, &cfg);
    m->n_shards = nf;
    int n = tensor_table(m, NULL);
    TensorRef* refs = xmalloc(n * sizeof *refs);
    tensor_table(m, refs);
    int rc = 0;
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
        if (i == 0) m->file_dtype = t->dtype;
        st_to_f32(*refs[i].slot, t->data, t->dtype, t->numel);
    }
    free(refs);
    for (int i = 0; i < nf; i++) st_close(&files[i]);
    free(files);
    if (rc) model_free(m);
    return rc;
}

void model_init_random(Model* m, const ModelConfig* cfg, float std, uint64_t seed) {
    memset(m, 0, sizeof *m);
    model_alloc(m, cfg);
    m->file_dtype = DT_F32;
    Rng r;
    rng_seed(&r, seed);
    int n = tensor_table(m, NULL);
    TensorRef* refs = xmalloc(n * sizeof *refs);
    tensor_table(m, refs);
    for (int i = 0; i < n; i++) {
        float* p = *refs[i].slot;
        size_t numel = refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
        int is_norm = strstr(refs[i].name, "norm") != NULL;
        for (size_t k = 0; k < numel; k++) p[k] = is_norm ? 1.0f : refs[i].ndim == 1 ? 0.0f : std * rng_normal(&r);
    }
    free(refs);
}

void model_free(Model* m) {
    free(m->storage);
    free(m->layers);
    memset(m, 0, sizeof *m);
}

// ---------------------------------------------------------------------------------------------
// saving

int model_save(const Model* m, const char* dir, DType dtype, int shards, Err* err) {
    if (mkdir_p(dir, err)) return -1;
    char path[4200];
    ModelConfig cfg = m->cfg;
    snprintf(cfg.torch_dtype, sizeof cfg.torch_dtype, "%s", dtype == DT_F32 ? "float32" : dtype == DT_F16 ? "float16" : "bfloat16");
    if (config_save(&cfg, path_join(path, sizeof path, dir, "config.json"), err)) return -1;
    int n = tensor_table(m, NULL);
    TensorRef* refs = xmalloc(n * sizeof *refs);
    tensor_table(m, refs);
    StWrite* w = xcalloc(n, sizeof *w);
    for (int i = 0; i < n; i++) {
        w[i].name = refs[i].name;
        w[i].dtype = dtype;
        w[i].ndim = refs[i].ndim;
        w[i].shape[0] = refs[i].shape[0];
        w[i].shape[1] = refs[i].shape[1];
        w[i].data = *refs[i].slot;
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
    free(w);
    free(refs);
    return rc;
}
