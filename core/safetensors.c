// safetensors.c: parse, validate and mmap safetensors files; write them atomically.
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char* DTYPE_NAMES[] = {"F32", "F16", "BF16"};
static const size_t DTYPE_SIZES[] = {4, 2, 2};

const char* dtype_name(DType d) { return DTYPE_NAMES[d]; }
size_t dtype_size(DType d) { return DTYPE_SIZES[d]; }

static int cmp_tensor_name(const void* a, const void* b) {
    return strcmp(((const StTensor*)a)->name, ((const StTensor*)b)->name);
}

// By start, then by size: a zero-size tensor at another's start sorts first and overlaps nothing.
static int cmp_tensor_offset(const void* a, const void* b) {
    const StTensor* ta = ((const StTensor* const*)a)[0];
    const StTensor* tb = ((const StTensor* const*)b)[0];
    const char *pa = ta->data, *pb = tb->data;
    if (pa != pb) return (pa > pb) - (pa < pb);
    return (ta->nbytes > tb->nbytes) - (ta->nbytes < tb->nbytes);
}

// Parses one header entry into t; data_base is the first data byte, data_len the data size.
static int parse_entry(StTensor* t, const cJSON* e, const char* path, const char* data_base,
                       size_t data_len, Err* err) {
    const char* name = e->string;
    if (!cJSON_IsObject(e)) return err_set(err, "%s: tensor '%s': header entry is not an object", path, name);
    const cJSON* dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON* shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON* offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return err_set(err, "%s: tensor '%s': missing string field 'dtype'", path, name);
    int found = name_index(DTYPE_NAMES, 3, dt->valuestring);
    if (found < 0)
        return err_set(err, "%s: tensor '%s': dtype '%s' not supported (expected F32, F16 or BF16)", path, name,
                       dt->valuestring);
    t->dtype = (DType)found;
    if (!cJSON_IsArray(shape)) return err_set(err, "%s: tensor '%s': missing array field 'shape'", path, name);
    t->ndim = cJSON_GetArraySize(shape);
    if (t->ndim > ST_MAX_DIMS) return err_set(err, "%s: tensor '%s': %d dimensions (at most %d)", path, name, t->ndim, ST_MAX_DIMS);
    size_t numel = 1;
    int i = 0;
    const cJSON* dim;
    cJSON_ArrayForEach(dim, shape) {
        if (!cJSON_IsNumber(dim) || dim->valuedouble < 0 || dim->valuedouble > 1e15 ||  // range first: the cast
            dim->valuedouble != (double)(int64_t)dim->valuedouble)                     // of a huge double is UB
            return err_set(err, "%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, i);
        size_t d = (size_t)dim->valuedouble;
        t->shape[i++] = (int64_t)d;
        if (d && numel > ((size_t)1 << 50) / d)  // checked before multiplying, so it cannot wrap
            return err_set(err, "%s: tensor '%s': shape too large", path, name);
        numel *= d;
    }
    t->numel = numel;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 || !cJSON_IsNumber(offs->child) ||
        !cJSON_IsNumber(offs->child->next))
        return err_set(err, "%s: tensor '%s': 'data_offsets' must be [begin, end]", path, name);
    double b = offs->child->valuedouble, en = offs->child->next->valuedouble;
    if (b < 0 || en < b)
        return err_set(err, "%s: tensor '%s': data_offsets [%.0f, %.0f] are not an ordered pair of offsets", path, name, b, en);
    if (en > (double)data_len)  // before the integer casts below, which are UB for huge doubles
        return err_set(err, "%s: tensor '%s': data_offsets [%.0f, %.0f] reach past the end of the data (%zu bytes)", path,
                       name, b, en, data_len);
    if (b != (double)(size_t)b || en != (double)(size_t)en)
        return err_set(err, "%s: tensor '%s': data_offsets [%g, %g] are not whole numbers", path, name, b, en);
    t->nbytes = (size_t)en - (size_t)b;
    if (t->nbytes != numel * DTYPE_SIZES[found]) {
        char shp[ST_MAX_DIMS * 21 + 8];
        return err_set(err, "%s: tensor '%s': %zu bytes in data_offsets but shape [%s] x %s needs %zu", path, name,
                       t->nbytes, st_shape_str(t, shp, sizeof shp), DTYPE_NAMES[found], numel * DTYPE_SIZES[found]);
    }
    t->data = data_base + (size_t)b;
    return 0;
}

char* st_shape_str(const StTensor* t, char* buf, size_t n) {
    size_t len = 0;
    buf[0] = 0;
    for (int d = 0; d < t->ndim && len < n; d++)
        len += snprintf(buf + len, n - len, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    return buf;
}

int st_open(StFile* f, const char* path, Err* err) {
    memset(f, 0, sizeof *f);
    if (require_regular_file(path, NULL, err)) return -1;  // before open(), which blocks on a FIFO
    int fd = open(path, O_RDONLY);
    if (fd < 0) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(err, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size < 8) {
        close(fd);
        return err_set(err, "%s: truncated: %zu bytes, a safetensors file needs at least 8", path, size);
    }
    void* map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return err_set(err, "%s: mmap failed: %s", path, strerror(errno));
    f->map = map;
    f->map_size = size;
    f->path = xstrdup(path);

    const unsigned char* p = map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | p[i];
    if (hlen > size - 8) {
        err_set(err, "%s: header length %llu reaches past the end of the file (%zu bytes)", path,
                (unsigned long long)hlen, size);
        goto fail;
    }
    const char* json_end = NULL;
    cJSON* root = cJSON_ParseWithLengthOpts((const char*)p + 8, hlen, &json_end, 0);
    // after the object only padding may follow (spaces, as the reference writer pads)
    for (const char* q = json_end; root && q && q < (const char*)p + 8 + hlen; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            cJSON_Delete(root);
            root = NULL;
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        err_set(err, "%s: header is not a JSON object", path);
        goto fail;
    }
    int count = 0;
    const cJSON* e;
    cJSON_ArrayForEach(e, root) if (strcmp(e->string, "__metadata__") != 0) count++;
    f->tensors = xcalloc(count ? count : 1, sizeof(StTensor));
    const char* data_base = (const char*)p + 8 + hlen;
    size_t data_len = size - 8 - hlen;
    cJSON_ArrayForEach(e, root) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        StTensor* t = &f->tensors[f->n];
        t->name = xstrdup(e->string);
        f->n++;
        if (parse_entry(t, e, path, data_base, data_len, err)) {
            cJSON_Delete(root);
            goto fail;
        }
    }
    cJSON_Delete(root);
    // Regions must not overlap: sort by start and compare neighbours.
    if (f->n > 1) {
        const StTensor** by_off = xmalloc(f->n * sizeof *by_off);
        for (int i = 0; i < f->n; i++) by_off[i] = &f->tensors[i];
        qsort(by_off, f->n, sizeof *by_off, cmp_tensor_offset);
        for (int i = 1; i < f->n; i++) {
            const char* prev_end = (const char*)by_off[i - 1]->data + by_off[i - 1]->nbytes;
            if ((const char*)by_off[i]->data < prev_end) {
                err_set(err, "%s: tensors '%s' and '%s' overlap in the data", path, by_off[i - 1]->name, by_off[i]->name);
                free(by_off);
                goto fail;
            }
        }
        free(by_off);
    }
    qsort(f->tensors, f->n, sizeof(StTensor), cmp_tensor_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->tensors[i - 1].name, f->tensors[i].name) == 0) {
            err_set(err, "%s: tensor '%s' appears twice", path, f->tensors[i].name);
            goto fail;
        }
    return 0;
fail:
    st_close(f);
    return -1;
}

const StTensor* st_find(const StFile* f, const char* name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        int c = strcmp(f->tensors[mid].name, name);
        if (c == 0) return &f->tensors[mid];
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return NULL;
}

void st_close(StFile* f) {
    for (int i = 0; i < f->n; i++) free(f->tensors[i].name);
    free(f->tensors);
    if (f->map) munmap(f->map, f->map_size);
    free(f->path);
    memset(f, 0, sizeof *f);
}

void st_to_f32(float* dst, const void* src, DType d, size_t n) {
    if (d == DT_F32) {
        memcpy(dst, src, n * 4);
    } else if (d == DT_BF16) {
        const unsigned char* s = src;  // byte loads: the data need not be 2-byte aligned
        for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
    } else {
        const unsigned char* s = src;
        for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32((uint16_t)(s[2 * i] | s[2 * i + 1] << 8));
    }
}

// One block of elements: a flag per element ORed together, no early exit, so the compiler turns the
// loop into vector compares (memcpy loads: 2-byte data need not be aligned in the mapping).
enum { NONFINITE_BLOCK = 4096 };
static inline int block_has_nonfinite(const unsigned char* p, DType d, size_t n) {
    unsigned bad = 0;
    if (d == DT_F32) {
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, p + 4 * i, 4);
            bad |= (u & 0x7f800000u) == 0x7f800000u;  // exponent all ones: inf or NaN
        }
    } else {
        uint16_t mask = d == DT_BF16 ? 0x7f80 : 0x7c00;
        for (size_t i = 0; i < n; i++) {
            uint16_t u;
            memcpy(&u, p + 2 * i, 2);
            bad |= (u & mask) == mask;
        }
    }
    return bad != 0;
}

size_t st_find_nonfinite(const void* src, DType d, size_t n) {
    const unsigned char* p = src;
    size_t sz = DTYPE_SIZES[d], nblocks = (n + NONFINITE_BLOCK - 1) / NONFINITE_BLOCK, first_block = nblocks;
    // Blocks in parallel for large tensors (a few GB stream at memory speed); the first bad block wins.
#pragma omp parallel for schedule(static) reduction(min : first_block) if (nblocks >= 64)
    for (size_t b = 0; b < nblocks; b++) {
        if (b > first_block) continue;  // this thread found one earlier
        size_t lo = b * NONFINITE_BLOCK, len = n - lo < NONFINITE_BLOCK ? n - lo : NONFINITE_BLOCK;
        // a full block has a constant length: gcc's -O2 vectoriser wants a known trip count
        int bad = len == NONFINITE_BLOCK ? block_has_nonfinite(p + lo * sz, d, NONFINITE_BLOCK)
                                         : block_has_nonfinite(p + lo * sz, d, len);
        if (bad) first_block = b;
    }
    if (first_block == nblocks) return n;
    for (size_t i = first_block * NONFINITE_BLOCK;; i++)
        if (block_has_nonfinite(p + i * sz, d, 1)) return i;
}

int st_write(const char* path, const StWrite* t, int n, const char* const* metadata, Err* err) {
    cJSON* root = cJSON_CreateObject();
    if (metadata && metadata[0]) {
        cJSON* md = cJSON_AddObjectToObject(root, "__metadata__");
        for (int i = 0; metadata[i] && metadata[i + 1]; i += 2) cJSON_AddStringToObject(md, metadata[i], metadata[i + 1]);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
        cJSON* e = cJSON_AddObjectToObject(root, t[i].name);
        cJSON_AddStringToObject(e, "dtype", DTYPE_NAMES[t[i].dtype]);
        cJSON* sh = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t[i].ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)t[i].shape[d]));
        cJSON* of = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
        off += numel * DTYPE_SIZES[t[i].dtype];
        cJSON_AddItemToArray(of, cJSON_CreateNumber((double)off));
    }
    char* json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    size_t jl = strlen(json), padded = (jl + 7) / 8 * 8;  // data starts 8-byte aligned
    AtomicFile af;
    if (atomic_open(&af, path, err)) {
        free(json);
        return -1;
    }
    unsigned char lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(lenbuf, 1, 8, af.f) == 8 && fwrite(json, 1, jl, af.f) == jl;
    for (size_t i = jl; i < padded && ok; i++) ok = fputc(' ', af.f) != EOF;
    free(json);
    uint16_t buf[4096];
    float made[4096];
    for (int i = 0; i < n && ok; i++) {
        size_t numel = 1;
        for (int d = 0; d < t[i].ndim; d++) numel *= (size_t)t[i].shape[d];
        if (t[i].dtype == DT_F32 && t[i].data) {
            ok = fwrite(t[i].data, 4, numel, af.f) == numel;
            continue;
        }
        for (size_t s = 0; s < numel && ok; s += 4096) {
            size_t m = numel - s < 4096 ? numel - s : 4096;
            const float* src = t[i].data ? t[i].data + s : made;
            if (!t[i].data) t[i].fill(made, s, m, t[i].fill_ctx);
            if (t[i].dtype == DT_F32) {
                ok = fwrite(src, 4, m, af.f) == m;
                continue;
            }
            for (size_t k = 0; k < m; k++) buf[k] = t[i].dtype == DT_BF16 ? f32_to_bf16(src[k]) : f32_to_f16(src[k]);
            ok = fwrite(buf, 2, m, af.f) == m;
        }
    }
    if (!ok) {
        atomic_abort(&af);
        return err_set(err, "%s: write failed", path);
    }
    return atomic_commit(&af, err);
}
