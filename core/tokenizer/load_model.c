// load_model.c: tokenizer.json "model" (BPE: vocab, merges, byte_fallback, unk) -> the vocab map,
// merge table and byte tables; the added tokens' ids count towards the vocab size.
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>

int tok_load_model(LoadCtx* L, Tokenizer* t, const cJSON* root) {
    TokenizerImpl* m = t->impl;
    const cJSON* model = tok_jget(root, "model");
    if (!cJSON_IsObject(model)) return err_set(L->err, "%s: model missing (expected an object with type, vocab and merges)", L->name);
    const char* type = tok_jstr(model, "type");
    if (type && strcmp(type, "BPE") != 0)
        return err_set(L->err, "%s: model.type '%s' is not supported (expected BPE)", L->name, type);
    if (!type && !tok_jget(model, "merges")) return err_set(L->err, "%s: model.type missing (expected BPE)", L->name);
    const char* csp = tok_jstr(model, "continuing_subword_prefix");
    const char* eow = tok_jstr(model, "end_of_word_suffix");
    if (csp && *csp) return err_set(L->err, "%s: model.continuing_subword_prefix '%s' is not supported (expected null or \"\")", L->name, csp);
    if (eow && *eow) return err_set(L->err, "%s: model.end_of_word_suffix '%s' is not supported (expected null or \"\")", L->name, eow);
    m->byte_fallback = tok_jbool(model, "byte_fallback", 0);
    m->fuse_unk = tok_jbool(model, "fuse_unk", 0);
    m->ignore_merges = tok_jbool(model, "ignore_merges", 0);
    t->byte_level = tok_has_byte_level(tok_jget(root, "pre_tokenizer"));

    // bytes-to-unicode (GPT-2): printable bytes map to themselves, the rest to 256 + n.
    for (int i = 0; i < 324; i++) m->u2b[i] = -1;
    int extra = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        int u = printable ? b : 256 + extra++;
        m->b2u[b] = (uint16_t)u;
        m->u2b[u] = (int16_t)b;
    }

    const cJSON* vocab = tok_jget(model, "vocab");
    if (cJSON_IsArray(vocab)) return err_set(L->err, "%s: model.vocab is an array (a Unigram vocab?); expected an object mapping token to id", L->name);
    if (!cJSON_IsObject(vocab)) return err_set(L->err, "%s: model.vocab missing (expected an object mapping token to id)", L->name);
    const cJSON* added = tok_jget(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added)) return err_set(L->err, "%s: added_tokens: expected an array", L->name);
    const cJSON* merges = tok_jget(model, "merges");
    if (!cJSON_IsArray(merges)) return err_set(L->err, "%s: model.merges missing (expected an array)", L->name);

    // vocab size: every id named by the vocab or the added tokens
    int max_id = -1, n_vocab = 0;
    const cJSON* it;
    cJSON_ArrayForEach(it, vocab) {
        int id;
        if (tok_parse_id(it, &id)) return err_set(L->err, "%s: model.vocab['%s']: expected an integer id in [0, 2^24)", L->name, it->string);
        if (id > max_id) max_id = id;
        n_vocab++;
    }
    if (tok_added_tokens_check(L, added, &max_id)) return -1;
    if (n_vocab == 0) return err_set(L->err, "%s: model.vocab is empty (expected at least one token)", L->name);
    int V = max_id + 1;
    t->vocab_size = V;
    m->piece = xcalloc((size_t)V, sizeof(char*));
    m->flags = xcalloc((size_t)V, 1);
    strmap_init(&m->vocab_map, (size_t)n_vocab);
    Buf key = {0};
    cJSON_ArrayForEach(it, vocab) {
        int id = (int)it->valuedouble;
        if (m->piece[id]) { // the id could not decode to both, and piece -> id would depend on order
            buf_free(&key);
            return err_set(L->err, "%s: model.vocab['%s'] and model.vocab['%s'] both have id %d (expected one token per id)",
                           L->name, m->piece[id], it->string, id);
        }
        m->piece[id] = xstrdup(it->string);
        // Tokens outside the byte alphabet can never come out of byte-level BPE: keep them out
        // of the map so raw text cannot hit them by accident.
        if (!tok_piece_to_model(m, t->byte_level, it->string, strlen(it->string), &key)) continue;
        uint32_t off = (uint32_t)m->model_bytes.n;
        buf_put(&m->model_bytes, key.p, key.n);
        strmap_put(&m->vocab_map, m->model_bytes.p, off, (uint32_t)key.n, id);
    }

    tok_load_added_tokens(t, added); // after the vocab: an added token's content is its piece

    // merges, ranked by position; both "a b" and ["a", "b"] forms
    pairmap_init(&m->merges, (size_t)cJSON_GetArraySize(merges));
    Buf left = {0}, right = {0};
    int rank = 0, rc = 0;
    cJSON_ArrayForEach(it, merges) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(it)) {
            a = it->valuestring;
            const char* sp = strchr(a, ' ');
            if (!sp || strchr(sp + 1, ' ')) { rc = err_set(L->err, "%s: model.merges[%d] '%s': expected \"left right\" with exactly one space", L->name, rank, a); break; }
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsString(cJSON_GetArrayItem(it, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(it, 1))) {
            a = cJSON_GetArrayItem(it, 0)->valuestring;
            b = cJSON_GetArrayItem(it, 1)->valuestring;
            la = strlen(a);
            lb = strlen(b);
        } else { rc = err_set(L->err, "%s: model.merges[%d]: expected \"left right\" or [\"left\", \"right\"]", L->name, rank); break; }
        int ida = -1, idb = -1, idm = -1;
        if (tok_piece_to_model(m, t->byte_level, a, la, &left)) ida = strmap_get(&m->vocab_map, m->model_bytes.p, left.p, left.n);
        if (tok_piece_to_model(m, t->byte_level, b, lb, &right)) idb = strmap_get(&m->vocab_map, m->model_bytes.p, right.p, right.n);
        if (ida < 0 || idb < 0) {
            const char* bad = ida < 0 ? a : b;
            int bl = (int)(ida < 0 ? la : lb);
            rc = err_set(L->err, "%s: model.merges[%d] names token '%.*s', which is not in model.vocab", L->name, rank, bl, bad);
            break;
        }
        buf_put(&left, right.p, right.n);
        idm = strmap_get(&m->vocab_map, m->model_bytes.p, left.p, left.n);
        if (idm < 0) { rc = err_set(L->err, "%s: model.merges[%d]: merged token '%.*s%.*s' is not in model.vocab", L->name, rank, (int)la, a, (int)lb, b); break; }
        pairmap_put(&m->merges, ida, idb, rank, idm);
        rank++;
    }
    m->n_merges = rank;
    buf_free(&left);
    buf_free(&right);
    if (rc) { buf_free(&key); return rc; }

    // byte-level alphabet and <0xNN> fallback tokens
    for (int b = 0; b < 256; b++) {
        char ch = (char)b;
        m->byte_id[b] = strmap_get(&m->vocab_map, m->model_bytes.p, &ch, 1);
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->fallback_id[b] = -1;
        if (tok_piece_to_model(m, t->byte_level, name, 6, &key)) m->fallback_id[b] = strmap_get(&m->vocab_map, m->model_bytes.p, key.p, key.n);
    }
    // Without the byte alphabet, byte_id keeps the ids of the one-byte (ASCII) characters: the
    // symbol lookup's fast path. Multi-byte characters go through the map.
    if (!t->byte_level) for (int b = 0x80; b < 256; b++) m->byte_id[b] = -1;
    // The metaspace cut (see tok_model_pieces) is exact only if no token has U+2581 after another
    // character; the merged tokens are all in the vocab, so scanning the vocab is enough.
    if (!t->byte_level) {
        const char* ms = "\xE2\x96\x81";
        int ok = 1;
        for (int id = 0; id < V && ok; id++) {
            const char* p = m->piece[id];
            if (!p) continue; // added tokens too: some are also model tokens, so stay on the safe side
            while (strncmp(p, ms, 3) == 0) p += 3;
            if (strstr(p, ms)) ok = 0;
        }
        if (ok) {
            memcpy(m->meta, ms, 3);
            m->meta_len = 3;
            m->meta_id = strmap_get(&m->vocab_map, m->model_bytes.p, ms, 3);
        }
    }
    const char* unk = tok_jstr(model, "unk_token");
    if (unk && tok_piece_to_model(m, t->byte_level, unk, strlen(unk), &key)) t->unk_id = strmap_get(&m->vocab_map, m->model_bytes.p, key.p, key.n);
    buf_free(&key);
    return 0;
}
