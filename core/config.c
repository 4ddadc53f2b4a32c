// config.c: config.json <-> ModelConfig, with one-line errors naming the file and field.
#include "config.h"

#include "ops.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char* ARCH_NAMES[] = {"llama", "mistral", "qwen2"};
const char* arch_name(ArchType a) { return ARCH_NAMES[a]; }

// The largest value an integer field may have: far above any real model, low enough that the shapes
// and tables made from them fit in memory and in int (a huge num_hidden_layers would otherwise end
// in an allocation failure before any tensor is looked at).
static int int_field_max(const char* key) {
    if (!strcmp(key, "num_hidden_layers")) return 1024;
    if (!strcmp(key, "num_attention_heads") || !strcmp(key, "num_key_value_heads") || !strcmp(key, "head_dim")) return 1 << 16;
    if (!strcmp(key, "hidden_size") || !strcmp(key, "intermediate_size")) return 1 << 20;
    return 1 << 24;  // vocab_size, positions
}

static int get_int(const cJSON* root, const char* key, int required, int def, int* out, const char* path, Err* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return err_set(err, "%s: missing required field '%s' (expected a positive integer)", path, key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < 0)
        return err_set(err, "%s: field '%s' must be a non-negative integer", path, key);
    if (v->valuedouble > int_field_max(key))
        return err_set(err, "%s: field '%s' = %.17g exceeds %d", path, key, v->valuedouble, int_field_max(key));
    *out = (int)v->valuedouble;
    return 0;
}

static int get_float(const cJSON* root, const char* key, float def, float* out, const char* path, Err* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v)) return err_set(err, "%s: field '%s' must be a number", path, key);
    *out = (float)v->valuedouble;
    return 0;
}

// A float field that must lie in (0, hi]: a zero, negative or overflowing (inf as float) value would
// turn every activation into NaN or garbage downstream, so it is refused here with the range.
static int get_positive(const cJSON* root, const char* key, float def, float hi, float* out, const char* path, Err* err) {
    if (get_float(root, key, def, out, path, err)) return -1;
    if (!(*out > 0 && *out <= hi))
        return err_set(err, "%s: field '%s' = %g must be a number in (0, %g]", path, key,
                       cJSON_GetObjectItemCaseSensitive(root, key)->valuedouble, hi);
    return 0;
}

static int get_bool(const cJSON* root, const char* key, int def, int* out, const char* path, Err* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v)) return err_set(err, "%s: field '%s' must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

// bos/eos ids may be an integer, a list of integers (the first is used) or absent.
static int get_token_id(const cJSON* root, const char* key, int* out, const char* path, Err* err) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    *out = -1;
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsArray(v)) v = v->child;
    if (!v) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 || v->valuedouble != floor(v->valuedouble))
        return err_set(err, "%s: field '%s' must be a token id", path, key);
    *out = (int)v->valuedouble;
    return 0;
}

// theta, factor and the llama3 ramp are each in range, yet together they can overflow a float (theta
// 1e-40 with head_dim 128: frequency inf): every RoPE angle, position x frequency up to
// max_position_embeddings, must be finite.
static int rope_check(const ModelConfig* c, const char* path, Err* err) {
    float* f = xmalloc((size_t)c->head_dim / 2 * sizeof(float));
    rope_inv_freq(f, c);
    int bad = -1;
    for (int i = 0; i < c->head_dim / 2 && bad < 0; i++)
        if (!(f[i] > 0 && isfinite(f[i] * (float)c->max_seq_len))) bad = i;
    double fb = bad >= 0 ? f[bad] : 0;
    free(f);
    if (bad < 0) return 0;
    return err_set(err, "%s: rope_theta = %g with rope_scaling factor %g gives RoPE frequency %d = %g: its angles overflow a float over %d positions",
                   path, c->rope_theta, c->rope_factor, bad, fb, c->max_seq_len);
}

int config_parse(ModelConfig* c, const char* json, const char* path, Err* err) {
    memset(c, 0, sizeof *c);
    cJSON* root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set(err, "%s: not a JSON object", path);
    }
    int rc = -1;
    const cJSON* mt = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (!cJSON_IsString(mt)) {
        err_set(err, "%s: missing required field 'model_type' (expected \"llama\", \"mistral\" or \"qwen2\")", path);
        goto done;
    }
    int arch = name_index(ARCH_NAMES, 3, mt->valuestring);
    if (arch < 0) {
        err_set(err, "%s: model_type '%s' is not supported (expected \"llama\", \"mistral\" or \"qwen2\")", path,
                mt->valuestring);
        goto done;
    }
    c->arch = (ArchType)arch;
    const cJSON* act = cJSON_GetObjectItemCaseSensitive(root, "hidden_act");
    if (cJSON_IsString(act) && strcmp(act->valuestring, "silu") != 0) {
        err_set(err, "%s: hidden_act '%s' is not supported (expected \"silu\")", path, act->valuestring);
        goto done;
    }
    if (get_int(root, "hidden_size", 1, 0, &c->dim, path, err) ||
        get_int(root, "intermediate_size", 1, 0, &c->hidden_dim, path, err) ||
        get_int(root, "num_hidden_layers", 1, 0, &c->n_layers, path, err) ||
        get_int(root, "num_attention_heads", 1, 0, &c->n_heads, path, err) ||
        get_int(root, "vocab_size", 1, 0, &c->vocab_size, path, err) ||
        get_int(root, "num_key_value_heads", 0, c->n_heads, &c->n_kv_heads, path, err) ||
        get_int(root, "max_position_embeddings", 0, 2048, &c->max_seq_len, path, err) ||
        get_positive(root, "rms_norm_eps", 1e-6f, 0.1f, &c->norm_eps, path, err) ||
        get_positive(root, "rope_theta", 10000.0f, 1e30f, &c->rope_theta, path, err) ||
        get_bool(root, "tie_word_embeddings", 0, &c->tie_embeddings, path, err) ||
        get_token_id(root, "bos_token_id", &c->bos_id, path, err) ||
        get_token_id(root, "eos_token_id", &c->eos_id, path, err))
        goto done;
    const char* positive[] = {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                              "vocab_size", "num_key_value_heads"};
    int vals[] = {c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->vocab_size, c->n_kv_heads};
    for (int i = 0; i < 6; i++)
        if (vals[i] <= 0) {
            err_set(err, "%s: field '%s' must be positive", path, positive[i]);
            goto done;
        }
    if (c->n_heads % c->n_kv_heads != 0) {
        err_set(err, "%s: num_attention_heads (%d) must be a multiple of num_key_value_heads (%d)", path, c->n_heads,
                c->n_kv_heads);
        goto done;
    }
    if (get_int(root, "head_dim", 0, 0, &c->head_dim, path, err)) goto done;
    if (c->head_dim == 0) {
        if (c->dim % c->n_heads != 0) {
            err_set(err, "%s: hidden_size (%d) is not divisible by num_attention_heads (%d) and no head_dim is given", path,
                    c->dim, c->n_heads);
            goto done;
        }
        c->head_dim = c->dim / c->n_heads;
        if (c->head_dim > int_field_max("head_dim")) {  // the limit an explicit head_dim has (config_save writes it)
            err_set(err, "%s: hidden_size / num_attention_heads = head_dim %d exceeds %d", path, c->head_dim,
                    int_field_max("head_dim"));
            goto done;
        }
    }
    if ((long)c->n_heads * c->head_dim > 1 << 20) {
        err_set(err, "%s: num_attention_heads x head_dim = %ld exceeds %d", path, (long)c->n_heads * c->head_dim, 1 << 20);
        goto done;
    }
    if (c->head_dim % 2) {
        err_set(err, "%s: head_dim %d must be even for RoPE", path, c->head_dim);
        goto done;
    }
    if (c->max_seq_len <= 0) c->max_seq_len = 2048;
    if (c->arch == ARCH_QWEN2) {
        c->attn_bias = 1;  // Qwen2 always has q/k/v biases and none on o_proj
    } else {
        if (get_bool(root, "attention_bias", 0, &c->attn_bias, path, err)) goto done;
        c->o_bias = c->attn_bias;
        if (get_bool(root, "mlp_bias", 0, &c->mlp_bias, path, err)) goto done;
    }
    const cJSON* rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    c->rope_factor = 1.0f;
    if (rs && !cJSON_IsNull(rs)) {
        const cJSON* ty = cJSON_GetObjectItemCaseSensitive(rs, "rope_type");
        if (!cJSON_IsString(ty)) ty = cJSON_GetObjectItemCaseSensitive(rs, "type");
        if (!cJSON_IsObject(rs) || !cJSON_IsString(ty)) {
            err_set(err, "%s: field 'rope_scaling' must be an object with a 'rope_type' string", path);
            goto done;
        }
        if (get_positive(rs, "factor", 1.0f, 1e6f, &c->rope_factor, path, err)) goto done;
        if (strcmp(ty->valuestring, "default") == 0) {
            c->rope_scaling = ROPE_DEFAULT;
        } else if (strcmp(ty->valuestring, "linear") == 0) {
            c->rope_scaling = ROPE_LINEAR;
        } else if (strcmp(ty->valuestring, "llama3") == 0) {
            c->rope_scaling = ROPE_LLAMA3;
            if (get_positive(rs, "low_freq_factor", 1.0f, 1e6f, &c->rope_low_freq_factor, path, err) ||
                get_positive(rs, "high_freq_factor", 4.0f, 1e6f, &c->rope_high_freq_factor, path, err) ||
                get_int(rs, "original_max_position_embeddings", 1, 0, &c->rope_original_max_pos, path, err))
                goto done;
        } else {
            err_set(err, "%s: rope_scaling type '%s' is not supported (expected default, linear or llama3)", path,
                    ty->valuestring);
            goto done;
        }
    }
    if (rope_check(c, path, err)) goto done;
    const cJSON* td = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
    snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s", cJSON_IsString(td) ? td->valuestring : "");
    rc = 0;
done:
    cJSON_Delete(root);
    return rc;
}

int config_load(ModelConfig* c, const char* path, Err* err) {
    char* text = read_json_file(path, err);
    if (!text) return -1;
    int rc = config_parse(c, text, path, err);
    free(text);
    return rc;
}

// A float as the shortest decimal that reads back as the same float (1e-05, not 9.99999974737875e-06).
static double float_for_json(float f) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.9g", f);
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, f);
        if (strtof(buf, NULL) == f) break;
    }
    return strtod(buf, NULL);
}

int config_save(const ModelConfig* c, const char* path, Err* err) {
    static const char* class_names[] = {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"};
    cJSON* r = cJSON_CreateObject();
    cJSON* archs = cJSON_AddArrayToObject(r, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString(class_names[c->arch]));
    cJSON_AddStringToObject(r, "model_type", ARCH_NAMES[c->arch]);
    cJSON_AddNumberToObject(r, "hidden_size", c->dim);
    cJSON_AddNumberToObject(r, "intermediate_size", c->hidden_dim);
    cJSON_AddNumberToObject(r, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(r, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(r, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(r, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(r, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(r, "max_position_embeddings", c->max_seq_len);
    cJSON_AddNumberToObject(r, "rms_norm_eps", float_for_json(c->norm_eps));
    cJSON_AddNumberToObject(r, "rope_theta", float_for_json(c->rope_theta));
    cJSON_AddStringToObject(r, "hidden_act", "silu");
    cJSON_AddBoolToObject(r, "tie_word_embeddings", c->tie_embeddings);
    if (c->arch != ARCH_QWEN2) {
        cJSON_AddBoolToObject(r, "attention_bias", c->attn_bias);
        cJSON_AddBoolToObject(r, "mlp_bias", c->mlp_bias);
    }
    if (c->bos_id >= 0) cJSON_AddNumberToObject(r, "bos_token_id", c->bos_id);
    if (c->eos_id >= 0) cJSON_AddNumberToObject(r, "eos_token_id", c->eos_id);
    if (c->rope_scaling != ROPE_DEFAULT) {
        cJSON* rs = cJSON_AddObjectToObject(r, "rope_scaling");
        cJSON_AddStringToObject(rs, "rope_type", c->rope_scaling == ROPE_LLAMA3 ? "llama3" : "linear");
        cJSON_AddNumberToObject(rs, "factor", float_for_json(c->rope_factor));
        if (c->rope_scaling == ROPE_LLAMA3) {
            cJSON_AddNumberToObject(rs, "low_freq_factor", float_for_json(c->rope_low_freq_factor));
            cJSON_AddNumberToObject(rs, "high_freq_factor", float_for_json(c->rope_high_freq_factor));
            cJSON_AddNumberToObject(rs, "original_max_position_embeddings", c->rope_original_max_pos);
        }
    }
    cJSON_AddStringToObject(r, "torch_dtype", c->torch_dtype[0] ? c->torch_dtype : "float32");
    char* s = cJSON_Print(r);
    cJSON_Delete(r);
    int rc = write_file_atomic(path, s, strlen(s), err);
    free(s);
    return rc;
}

size_t config_param_count(const ModelConfig* c) {
    size_t C = c->dim, F = c->hidden_dim, D = c->head_dim, V = c->vocab_size;
    size_t q = (size_t)c->n_heads * D, kv = (size_t)c->n_kv_heads * D;
    size_t per_layer = 2 * C + C * q + 2 * C * kv + q * C + 3 * C * F;
    if (c->attn_bias) per_layer += q + 2 * kv;
    if (c->o_bias) per_layer += C;
    if (c->mlp_bias) per_layer += 2 * F + C;
    return V * C * (c->tie_embeddings ? 1 : 2) + C + per_layer * c->n_layers;
}
