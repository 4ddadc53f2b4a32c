// session_trace.c: the session's trace as JSONL, reproducible: a first line with the settings the
// positions were computed under (the names of the command-line options that set them), then one
// line per position and block, each marked as a prompt or a generated token.
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"

// A float as it was typed (0.1, not 0.100000001490116): its shortest decimal form.
static double typed(float v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.7g", v);
    return strtod(buf, NULL);
}

static void add_str_or_null(cJSON* o, const char* key, const char* v) {
    if (v) cJSON_AddStringToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

char* session_settings_json(const Session* s, const char* cmd, const SamplingSettings* sm) {
    const SlimRun* r = &s->run;
    int L = s->model.cfg.n_layers;
    cJSON* root = cJSON_CreateObject();
    cJSON* o = cJSON_AddObjectToObject(root, "settings");
    cJSON_AddStringToObject(o, "slimscope", SLIMSCOPE_VERSION);
    cJSON_AddStringToObject(o, "command", cmd);
    cJSON_AddStringToObject(o, "model", s->model.dir);
    add_str_or_null(o, "adapter", s->has_adapter ? s->adapter.dir : NULL);
    add_str_or_null(o, "adapter_type", !s->has_adapter ? NULL : s->adapter.type == ADAPTER_SLIM ? "slim" : "lora");
    cJSON_AddNumberToObject(o, "mask_ratio", typed(r->mask_ratio));
    cJSON_AddNumberToObject(o, "mask_seed", (double)r->mask_seed);
    cJSON_AddStringToObject(o, "mask_refresh", mask_refresh_name(r->mask_refresh));
    cJSON_AddStringToObject(o, "adapter_mode", adapter_mode_name(r->mode));
    // --force L:E and --adapter-layers as they would be typed (experts named as everywhere: i0.., 0..)
    cJSON* force = cJSON_AddArrayToObject(o, "force");
    char buf[64], name[16];
    for (int l = 0; r->force && l < L; l++)
        if (r->force[l] >= 0) {
            snprintf(buf, sizeof buf, "%d:%s", l, slim_expert_name(name, sizeof name, s->adapter.n_id, r->force[l]));
            cJSON_AddItemToArray(force, cJSON_CreateString(buf));
        }
    int all_on = 1;
    for (int l = 0; r->layer_on && l < L; l++) all_on &= r->layer_on[l] != 0;
    if (all_on) {
        cJSON_AddNullToObject(o, "adapter_layers");
    } else {
        char* layers = xcalloc(12, L + 1);
        for (int l = 0; l < L; l++)
            if (r->layer_on[l]) sprintf(layers + strlen(layers), "%s%d", layers[0] ? "," : "", l);
        cJSON_AddStringToObject(o, "adapter_layers", layers);
        free(layers);
    }
    cJSON_AddNumberToObject(o, "temp", typed(sm->temp));
    cJSON_AddNumberToObject(o, "top_p", typed(sm->top_p));
    cJSON_AddNumberToObject(o, "seed", (double)sm->seed);
    cJSON_AddNumberToObject(o, "n", sm->n_new);
    cJSON_AddNumberToObject(o, "ctx", s->rs.max_seq);
    cJSON_AddStringToObject(o, "weights", WEIGHTS_MODE_NAMES[s->model.mode]);
    cJSON_AddStringToObject(o, "device", s->rs.be ? s->rs.be->name : "cpu");
    cJSON_AddNumberToObject(o, "positions", s->n_tokens);
    char* text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    char* out = xstrdup(text);  // cJSON's allocator is not ours
    cJSON_free(text);
    return out;
}

static const char* token_text(void* ctx, int id) {
    static __thread char buf[256];  // the TUI's worker and a command each write from one thread
    return session_token_text(ctx, id, buf, sizeof buf);
}

int session_write_trace(Session* s, const char* path, const char* cmd, const SamplingSettings* sm, Err* err) {
    char* header = session_settings_json(s, cmd, sm);
    TraceExtras x = {header, token_text, s, s->generated};
    int rc = trace_write_jsonl(&s->trace, path, 0, s->n_tokens, &x, err);
    free(header);
    return rc;
}
