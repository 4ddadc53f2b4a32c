// test_model_load.c: model_save -> model_load round trips (F32 bit-exact, BF16 within its rounding,
// tied embeddings, qwen2 biases), Hugging Face tensor names and shapes in the file, a sharded copy
// equal bit for bit to the single file, and every load error (tensor shape vs config.json, missing
// tensor, missing or incomplete config.json, broken shard index) checked for a one-line message
// naming the file and the problem.
#include "testutil.h"

#include <sys/stat.h>

#include "model.h"

static char g_dir[64];

static int setup(void** state) {
    test_tmpdir(g_dir);
    return 0;
}

static int teardown(void** state) {
    test_rmrf(g_dir);
    return 0;
}

static char* sub(char* buf, size_t n, const char* name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

// The small test model: C=8, F=16, L=2, 2 query heads sharing 1 KV head of 4, V=10.
static ModelConfig small_config(void) {
    ModelConfig c = {0};
    c.arch = ARCH_LLAMA;
    c.dim = 8;
    c.hidden_dim = 16;
    c.n_layers = 2;
    c.n_heads = 2;
    c.n_kv_heads = 1;
    c.head_dim = 4;
    c.vocab_size = 10;
    c.max_seq_len = 64;
    c.norm_eps = 1e-5f;
    c.rope_theta = 10000.0f;
    c.bos_id = 1;
    c.eos_id = 2;
    return c;
}

// Parameters of small_config, counted by hand:
//   embed 10*8 = 80; per layer: 2 norms 16, q 8*8 = 64, k 4*8 = 32, v 32, o 64, gate/up/down 3*16*8 = 384
//   -> 592, two layers 1184; final norm 8; lm_head 80.
#define SMALL_PARAMS (80 + 1184 + 8 + 80)
#define SMALL_TENSORS (1 + 2 * 9 + 1 + 1)

// config.json for the small model written by hand, with the given overrides.
static void write_config(const char* dir, int F, int L, int KV, int V, const char* tie, const char* extra) {
    char path[300], json[1024];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(json, sizeof json,
             "{\"model_type\": \"llama\", \"hidden_size\": 8, \"intermediate_size\": %d, \"num_hidden_layers\": %d,"
             " \"num_attention_heads\": 2, \"num_key_value_heads\": %d, \"vocab_size\": %d,"
             " \"tie_word_embeddings\": %s%s}",
             F, L, KV, V, tie, extra ? extra : "");
    test_write_file(path, json);
}

static void save_ok(const Model* m, const char* dir, DType dt, int shards) {
    Err err = {{0}};
    if (model_save(m, dir, dt, shards, &err)) fail_msg("model_save(%s): %s", dir, err.msg);
}

// Round trips compare the widened float32 storage (native loading is tested in test_weights.c).
static void load_ok(Model* m, const char* dir) {
    Err err = {{0}};
    if (model_load_as(m, dir, WEIGHTS_F32, &err)) fail_msg("model_load(%s): %s", dir, err.msg);
}

// model_load_as(dir, mode) must fail with one line holding `where` (a path) and `phrase`; the Model
// is left empty.
static void expect_load_error_as(const char* dir, WeightsMode mode, const char* where, const char* phrase) {
    Model m;
    Err err = {{0}};
    if (model_load_as(&m, dir, mode, &err) == 0) {
        model_free(&m);
        fail_msg("model_load(%s) succeeded; expected \"%s\"", dir, phrase);
    }
    if (!strstr(err.msg, where)) fail_msg("error does not name %s: %s", where, err.msg);
    if (!strstr(err.msg, phrase)) fail_msg("error lacks \"%s\": %s", phrase, err.msg);
    if (strchr(err.msg, '\n')) fail_msg("error is more than one line: %s", err.msg);
    assert_null(m.storage);
    assert_null(m.layers);
}

static void expect_load_error(const char* dir, const char* where, const char* phrase) {
    expect_load_error_as(dir, WEIGHTS_NATIVE, where, phrase);
}

// A random small model with a few hand-placed values.
static void make_model(Model* m, const ModelConfig* c) {
    model_init_random(m, c, 0.5f, 42);
    weight_f32(&m->embed)[3 * 8 + 2] = -7.5f;    // row 3, column 2
    weight_f32(&m->layers[1].w[PROJ_K])[5] = 0.125f;  // k_proj of block 1, row 1, column 5
    weight_f32(&m->layers[0].w[PROJ_DOWN])[2 * 16 + 15] = 1.0f / 3.0f;
    m->layers[1].mlp_norm[7] = 0.1f;
    m->final_norm[0] = 65504.0f;
}

static float read_f32(const StTensor* t, size_t i) {
    float v;
    memcpy(&v, (const char*)t->data + 4 * i, 4);
    return v;
}

// ---------------------------------------------------------------------------------------------
// round trips

static void test_save_layout_and_round_trip(void** state) {
    ModelConfig c = small_config();
    Model a, b;
    make_model(&a, &c);
    assert_int_equal(a.n_params, SMALL_PARAMS);
    assert_int_equal(model_tensor_count(&a), SMALL_TENSORS);
    char dir[128], path[300];
    sub(dir, sizeof dir, "f32");
    save_ok(&a, dir, DT_F32, 1);

    // the file itself, read without model_load: Hugging Face names, (out, in) shapes, values in place
    StFile f;
    Err err;
    if (st_open(&f, path_join(path, sizeof path, dir, "model.safetensors"), &err)) fail_msg("%s", err.msg);
    assert_int_equal(f.n, SMALL_TENSORS);
    const StTensor* t = st_find(&f, "model.embed_tokens.weight");
    assert_non_null(t);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 10);
    assert_int_equal(t->shape[1], 8);
    assert_true(read_f32(t, 26) == -7.5f);
    t = st_find(&f, "model.layers.1.self_attn.k_proj.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 4);
    assert_int_equal(t->shape[1], 8);
    assert_true(read_f32(t, 5) == 0.125f);
    t = st_find(&f, "model.layers.0.mlp.down_proj.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 8);
    assert_int_equal(t->shape[1], 16);
    assert_true(read_f32(t, 47) == 1.0f / 3.0f);
    t = st_find(&f, "model.layers.0.self_attn.o_proj.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 8);
    assert_int_equal(t->shape[1], 8);
    t = st_find(&f, "model.layers.1.mlp.gate_proj.weight");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 16);
    assert_int_equal(t->shape[1], 8);
    t = st_find(&f, "model.layers.1.post_attention_layernorm.weight");
    assert_non_null(t);
    assert_int_equal(t->ndim, 1);
    assert_int_equal(t->shape[0], 8);
    assert_true(read_f32(t, 7) == 0.1f);
    t = st_find(&f, "model.layers.0.input_layernorm.weight");
    assert_non_null(t);
    assert_true(read_f32(t, 3) == 1.0f);  // norms start at 1
    assert_non_null(st_find(&f, "model.norm.weight"));
    assert_non_null(st_find(&f, "lm_head.weight"));
    assert_null(st_find(&f, "model.layers.0.self_attn.q_proj.bias"));
    assert_null(st_find(&f, "model.layers.2.input_layernorm.weight"));
    st_close(&f);

    load_ok(&b, dir);
    assert_int_equal(b.n_params, SMALL_PARAMS);
    assert_int_equal(b.n_shards, 1);
    assert_int_equal(b.file_dtype, DT_F32);
    assert_int_equal(b.cfg.dim, 8);
    assert_int_equal(b.cfg.n_kv_heads, 1);
    assert_int_equal(b.cfg.head_dim, 4);
    assert_int_equal(b.cfg.eos_id, 2);
    assert_memory_equal(a.storage, b.storage, SMALL_PARAMS * sizeof(float));
    assert_true(weight_at(&b.embed, 26) == -7.5f);
    assert_true(weight_at(&b.layers[1].w[PROJ_K], 5) == 0.125f);
    assert_true(b.final_norm[0] == 65504.0f);
    assert_true(b.lm_head.data != b.embed.data);
    assert_int_equal(b.proj_out[PROJ_K], 4);
    assert_int_equal(b.proj_in[PROJ_DOWN], 16);
    model_free(&b);
    model_free(&a);
}

// Three shards load to the same bits as one file; every tensor is in exactly one shard.
static void test_sharded_equals_single(void** state) {
    ModelConfig c = small_config();
    Model a, one, three;
    make_model(&a, &c);
    char d1[128], d3[128], path[300];
    save_ok(&a, sub(d1, sizeof d1, "single"), DT_BF16, 1);
    save_ok(&a, sub(d3, sizeof d3, "sharded"), DT_BF16, 3);
    assert_false(file_exists(path_join(path, sizeof path, d3, "model.safetensors")));
    assert_true(file_exists(path_join(path, sizeof path, d3, "model.safetensors.index.json")));
    int total = 0;
    for (int s = 1; s <= 3; s++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-00003.safetensors", s);
        StFile f;
        Err err;
        if (st_open(&f, path_join(path, sizeof path, d3, name), &err)) fail_msg("%s", err.msg);
        assert_true(f.n > 0);
        total += f.n;
        st_close(&f);
    }
    assert_int_equal(total, SMALL_TENSORS);
    // the index maps every tensor name to its shard
    Err err;
    char* idx = read_file_text(path_join(path, sizeof path, d3, "model.safetensors.index.json"), NULL, &err);
    assert_non_null(idx);
    assert_non_null(strstr(idx, "\"weight_map\""));
    assert_non_null(strstr(idx, "\"model.embed_tokens.weight\""));
    assert_non_null(strstr(idx, "\"lm_head.weight\""));
    // total_size: SMALL_PARAMS values of 2 bytes
    char want[64];
    snprintf(want, sizeof want, "%d", SMALL_PARAMS * 2);
    assert_non_null(strstr(idx, want));
    free(idx);

    load_ok(&one, d1);
    load_ok(&three, d3);
    assert_int_equal(one.n_shards, 1);
    assert_int_equal(three.n_shards, 3);
    assert_int_equal(three.file_dtype, DT_BF16);
    assert_int_equal(three.n_params, one.n_params);
    assert_memory_equal(one.storage, three.storage, one.n_params * sizeof(float));
    model_free(&one);
    model_free(&three);
    model_free(&a);
}

// BF16: the hand-placed values come back as their bf16 roundings (derived by hand, see
// test_safetensors.c); every value is within bf16's half-ulp of the original: 8 significant bits, so
// for x in [2^e, 2^(e+1)) the error is at most 2^(e-8) <= |x| / 256.
static void test_bf16_round_trip(void** state) {
    ModelConfig c = small_config();
    Model a, b;
    make_model(&a, &c);
    char dir[128];
    save_ok(&a, sub(dir, sizeof dir, "bf16"), DT_BF16, 1);
    load_ok(&b, dir);
    assert_int_equal(b.file_dtype, DT_BF16);
    assert_true(weight_at(&b.embed, 26) == -7.5f);                                // exact in bf16
    assert_true(weight_at(&b.layers[1].w[PROJ_K], 5) == 0.125f);                  // exact
    assert_true(weight_at(&b.layers[0].w[PROJ_DOWN], 47) == 0.333984375f);        // 1/3 -> 0x3EAB
    assert_true(b.layers[1].mlp_norm[7] == 0.10009765625f);           // 0.1 -> 0x3DCD
    assert_true(b.final_norm[0] == 65536.0f);                         // 65504 -> 0x4780
    for (size_t i = 0; i < a.n_params; i++) {
        double x = a.storage[i], y = b.storage[i];
        if (!(fabs(x - y) <= fabs(x) * (1.0 / 256))) fail_msg("param %zu: %g -> %g", i, x, y);
    }
    model_free(&b);
    model_free(&a);
}

// Tied embeddings: no lm_head.weight in the file, lm_head shares the embedding.
static void test_tied(void** state) {
    ModelConfig c = small_config();
    c.tie_embeddings = 1;
    Model a, b;
    make_model(&a, &c);
    assert_int_equal(a.n_params, SMALL_PARAMS - 80);
    char dir[128], path[300];
    save_ok(&a, sub(dir, sizeof dir, "tied"), DT_F32, 1);
    StFile f;
    Err err;
    if (st_open(&f, path_join(path, sizeof path, dir, "model.safetensors"), &err)) fail_msg("%s", err.msg);
    assert_int_equal(f.n, SMALL_TENSORS - 1);
    assert_null(st_find(&f, "lm_head.weight"));
    st_close(&f);
    load_ok(&b, dir);
    assert_int_equal(b.cfg.tie_embeddings, 1);
    assert_ptr_equal(b.lm_head.data, b.embed.data);
    assert_int_equal(b.n_params, SMALL_PARAMS - 80);
    assert_memory_equal(a.storage, b.storage, b.n_params * sizeof(float));
    model_free(&b);
    model_free(&a);
}

// Qwen2: q/k/v biases (shape [out]) travel with the weights; o_proj has none.
static void test_qwen2_biases(void** state) {
    ModelConfig c = small_config();
    c.arch = ARCH_QWEN2;
    c.attn_bias = 1;
    Model a, b;
    make_model(&a, &c);
    assert_non_null(a.layers[0].b[PROJ_Q]);
    assert_null(a.layers[0].b[PROJ_O]);
    a.layers[1].b[PROJ_V][3] = -0.75f;
    a.layers[0].b[PROJ_Q][7] = 2.0f;
    // 2 layers x (q 8 + k 4 + v 4) biases on top of the plain model
    assert_int_equal(a.n_params, SMALL_PARAMS + 2 * 16);
    char dir[128], path[300];
    save_ok(&a, sub(dir, sizeof dir, "qwen2"), DT_F32, 1);
    StFile f;
    Err err;
    if (st_open(&f, path_join(path, sizeof path, dir, "model.safetensors"), &err)) fail_msg("%s", err.msg);
    const StTensor* t = st_find(&f, "model.layers.1.self_attn.v_proj.bias");
    assert_non_null(t);
    assert_int_equal(t->ndim, 1);
    assert_int_equal(t->shape[0], 4);
    assert_true(read_f32(t, 3) == -0.75f);
    t = st_find(&f, "model.layers.0.self_attn.q_proj.bias");
    assert_non_null(t);
    assert_int_equal(t->shape[0], 8);
    assert_null(st_find(&f, "model.layers.0.self_attn.o_proj.bias"));
    st_close(&f);
    load_ok(&b, dir);
    assert_int_equal(b.cfg.arch, ARCH_QWEN2);
    assert_true(b.layers[1].b[PROJ_V][3] == -0.75f);
    assert_true(b.layers[0].b[PROJ_Q][7] == 2.0f);
    assert_memory_equal(a.storage, b.storage, a.n_params * sizeof(float));
    model_free(&b);
    model_free(&a);
}

// A hand-written config.json (as a Hugging Face checkpoint would have) loads the saved weights.
static void test_hand_written_config(void** state) {
    ModelConfig c = small_config();
    Model a, b;
    make_model(&a, &c);
    char dir[128];
    save_ok(&a, sub(dir, sizeof dir, "handcfg"), DT_F32, 1);
    write_config(dir, 16, 2, 1, 10, "false", NULL);
    load_ok(&b, dir);
    assert_int_equal(b.cfg.head_dim, 4);
    assert_memory_equal(a.storage, b.storage, a.n_params * sizeof(float));
    model_free(&b);
    model_free(&a);
}

// ---------------------------------------------------------------------------------------------
// errors

// Saves the small model into g_dir/<name>; returns the directory.
static char* saved_model(char* dir, size_t n, const char* name, int shards) {
    ModelConfig c = small_config();
    Model a;
    make_model(&a, &c);
    sub(dir, n, name);
    save_ok(&a, dir, DT_F32, shards);
    model_free(&a);
    return dir;
}

static void test_shape_mismatch(void** state) {
    char dir[128], st[300];
    saved_model(dir, sizeof dir, "shape", 1);
    path_join(st, sizeof st, dir, "model.safetensors");
    // config says intermediate_size 24: the first projection of the MLP no longer fits
    write_config(dir, 24, 2, 1, 10, "false", NULL);
    expect_load_error(dir, st,
                      "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [16, 8] but config.json implies [24, 8]");
    // vocabulary of 12: the embedding is the first tensor checked
    write_config(dir, 16, 2, 1, 12, "false", NULL);
    expect_load_error(dir, st, "tensor 'model.embed_tokens.weight' has shape [10, 8] but config.json implies [12, 8]");
    // two KV heads instead of one: k_proj is [4, 8] in the file, [8, 8] by the config
    write_config(dir, 16, 2, 2, 10, "false", NULL);
    expect_load_error(dir, st, "tensor 'model.layers.0.self_attn.k_proj.weight' has shape [4, 8] but config.json implies [8, 8]");
    // head_dim 8 (given) with 2 heads: q_proj is [16, 8] by the config
    write_config(dir, 16, 2, 1, 10, "false", ", \"head_dim\": 8");
    expect_load_error(dir, st, "tensor 'model.layers.0.self_attn.q_proj.weight' has shape [8, 8] but config.json implies [16, 8]");
}

static void test_missing_tensor(void** state) {
    char dir[128], st[300];
    saved_model(dir, sizeof dir, "missing", 1);
    path_join(st, sizeof st, dir, "model.safetensors");
    write_config(dir, 16, 3, 1, 10, "false", NULL);  // a third block the file does not have
    expect_load_error(dir, st, "missing tensor 'model.layers.2.input_layernorm.weight'");
    // a config asking for biases the file lacks
    write_config(dir, 16, 2, 1, 10, "false", ", \"attention_bias\": true");
    expect_load_error(dir, st, "missing tensor 'model.layers.0.self_attn.q_proj.bias'");

    // untied config over a tied checkpoint: lm_head.weight is missing
    ModelConfig c = small_config();
    c.tie_embeddings = 1;
    Model a;
    make_model(&a, &c);
    char tied[128];
    save_ok(&a, sub(tied, sizeof tied, "tied-missing"), DT_F32, 1);
    model_free(&a);
    write_config(tied, 16, 2, 1, 10, "false", NULL);
    path_join(st, sizeof st, tied, "model.safetensors");
    expect_load_error(tied, st, "missing tensor 'lm_head.weight'");
}

static void test_missing_config(void** state) {
    char dir[128], cfg[300];
    saved_model(dir, sizeof dir, "nocfg", 1);
    path_join(cfg, sizeof cfg, dir, "config.json");
    assert_int_equal(unlink(cfg), 0);
    expect_load_error(dir, cfg, "cannot open");
    // a directory that does not exist
    char none[128];
    expect_load_error(sub(none, sizeof none, "no-such-model"), "no-such-model/config.json", "cannot open");
}

static void test_config_lacking_field(void** state) {
    char dir[128], cfg[300];
    saved_model(dir, sizeof dir, "badcfg", 1);
    path_join(cfg, sizeof cfg, dir, "config.json");
    test_write_file(cfg,
               "{\"model_type\": \"llama\", \"hidden_size\": 8, \"intermediate_size\": 16, \"num_hidden_layers\": 2,"
               " \"num_attention_heads\": 2, \"num_key_value_heads\": 1}");
    expect_load_error(dir, cfg, "missing required field 'vocab_size'");
    test_write_file(cfg, "{\"model_type\": \"llama\", \"hidden_size\": 8,");
    expect_load_error(dir, cfg, "not a JSON object");
    test_write_file(cfg,
               "{\"model_type\": \"gemma\", \"hidden_size\": 8, \"intermediate_size\": 16, \"num_hidden_layers\": 2,"
               " \"num_attention_heads\": 2, \"vocab_size\": 10}");
    expect_load_error(dir, cfg, "model_type 'gemma' is not supported");
}

static void test_no_weights(void** state) {
    char dir[128], path[300];
    saved_model(dir, sizeof dir, "noweights", 1);
    assert_int_equal(unlink(path_join(path, sizeof path, dir, "model.safetensors")), 0);
    expect_load_error(dir, dir, "no model.safetensors or model.safetensors.index.json");
}

static void test_corrupt_weights(void** state) {
    char dir[128], st[300];
    saved_model(dir, sizeof dir, "corrupt", 1);
    path_join(st, sizeof st, dir, "model.safetensors");
    assert_int_equal(truncate(st, 5), 0);
    expect_load_error(dir, st, "truncated");
    // the data cut short: the header's offsets now reach past the end
    saved_model(dir, sizeof dir, "corrupt2", 1);
    path_join(st, sizeof st, dir, "model.safetensors");
    struct stat sb;
    assert_int_equal(stat(st, &sb), 0);
    assert_int_equal(truncate(st, sb.st_size - 4), 0);
    expect_load_error(dir, st, "reach past the end of the data");
}

static void test_shard_index_errors(void** state) {
    char dir[128], path[300];
    saved_model(dir, sizeof dir, "shards-gone", 3);
    // a shard named by the index is missing
    path_join(path, sizeof path, dir, "model-00002-of-00003.safetensors");
    assert_int_equal(unlink(path), 0);
    expect_load_error(dir, path, "cannot open");

    // an index naming a file that was never written
    saved_model(dir, sizeof dir, "shards-misnamed", 3);
    char idx[300];
    path_join(idx, sizeof idx, dir, "model.safetensors.index.json");
    Err err;
    char* text = read_file_text(idx, NULL, &err);
    assert_non_null(text);
    char* p = strstr(text, "model-00003-of-00003.safetensors");
    assert_non_null(p);
    memcpy(p, "model-00009-of-00009", 20);
    test_write_file(idx, text);
    free(text);
    expect_load_error(dir, path_join(path, sizeof path, dir, "model-00009-of-00009.safetensors"), "cannot open");

    // an index that is not JSON, or lacks weight_map
    test_write_file(idx, "{\"metadata\": {}, \"weight_map\": ");
    expect_load_error(dir, idx, "not a JSON object");
    test_write_file(idx, "{\"metadata\": {\"total_size\": 0}}");
    expect_load_error(dir, idx, "missing object field 'weight_map'");
    // a weight_map entry that is not a plain file name in the directory
    test_write_file(idx, "{\"weight_map\": {\"model.norm.weight\": \"../model.safetensors\"}}");
    expect_load_error(dir, idx, "weight_map['model.norm.weight'] must be a file name");
    // an index that names only some tensors: the others are missing
    test_write_file(idx, "{\"weight_map\": {\"model.norm.weight\": \"model-00001-of-00003.safetensors\"}}");
    expect_load_error(dir, dir, "missing tensor '");
}

// One NaN or inf anywhere in a checkpoint (matrix, norm, lm_head; F32, F16, BF16 files) is refused
// in every weights mode, naming the file, the tensor and the element.
static void test_nonfinite_weights(void** state) {
    const DType dts[3] = {DT_F32, DT_F16, DT_BF16};
    const char* const dnames[3] = {"f32", "f16", "bf16"};
    for (int di = 0; di < 3; di++) {
        for (int which = 0; which < 3; which++) {
            ModelConfig c = small_config();
            Model a;
            make_model(&a, &c);
            const char* tensor;
            size_t at;
            if (which == 0) {  // row 1, column 7 of block 1's up_proj (16 x 8)
                weight_f32(&a.layers[1].w[PROJ_UP])[1 * 8 + 7] = NAN;
                tensor = "model.layers.1.mlp.up_proj.weight", at = 15;
            } else if (which == 1) {
                a.layers[0].attn_norm[3] = -INFINITY;
                tensor = "model.layers.0.input_layernorm.weight", at = 3;
            } else {  // the last element of the last tensor
                weight_f32(&a.lm_head)[10 * 8 - 1] = INFINITY;
                tensor = "lm_head.weight", at = 79;
            }
            char dir[128], name[64], st[300], phrase[200];
            snprintf(name, sizeof name, "nonfinite-%s-%d", dnames[di], which);
            save_ok(&a, sub(dir, sizeof dir, name), dts[di], 1);
            model_free(&a);
            path_join(st, sizeof st, dir, "model.safetensors");
            snprintf(phrase, sizeof phrase, "tensor '%s' holds a non-finite value (NaN or inf) at element %zu", tensor, at);
            for (int mode = WEIGHTS_NATIVE; mode <= WEIGHTS_Q8; mode++) expect_load_error_as(dir, mode, st, phrase);
        }
    }
    // the same model without the planted value loads (so the check does not refuse finite data)
    char dir[128];
    saved_model(dir, sizeof dir, "finite", 1);
    for (int mode = WEIGHTS_NATIVE; mode <= WEIGHTS_Q8; mode++) {
        Model m;
        Err err = {{0}};
        if (model_load_as(&m, dir, mode, &err)) fail_msg("finite model refused in mode %d: %s", mode, err.msg);
        model_free(&m);
    }
}

// A model_save whose weights cannot be written (a directory stands where model.safetensors goes)
// fails and leaves no config.json, not even an older one: a directory with a config holds weights.
static void test_failed_save_leaves_no_config(void** state) {
    ModelConfig c = small_config();
    Model a;
    make_model(&a, &c);
    char dir[128], path[300];
    sub(dir, sizeof dir, "blocked");
    save_ok(&a, dir, DT_F32, 1);  // a complete older save
    path_join(path, sizeof path, dir, "model.safetensors");
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0755), 0);
    char inner[400];
    snprintf(inner, sizeof inner, "%s/x", path);
    test_write_file(inner, "x");
    Err err = {{0}};
    assert_int_equal(model_save(&a, dir, DT_F32, 1, &err), -1);
    assert_non_null(strstr(err.msg, path));
    assert_false(file_exists(path_join(path, sizeof path, dir, "config.json")));
    model_free(&a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_save_layout_and_round_trip),
        cmocka_unit_test(test_sharded_equals_single),
        cmocka_unit_test(test_bf16_round_trip),
        cmocka_unit_test(test_tied),
        cmocka_unit_test(test_qwen2_biases),
        cmocka_unit_test(test_hand_written_config),
        cmocka_unit_test(test_shape_mismatch),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_missing_config),
        cmocka_unit_test(test_config_lacking_field),
        cmocka_unit_test(test_no_weights),
        cmocka_unit_test(test_corrupt_weights),
        cmocka_unit_test(test_shard_index_errors),
        cmocka_unit_test(test_nonfinite_weights),
        cmocka_unit_test(test_failed_save_leaves_no_config),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
