// common.c: error reporting, checked allocation, files written atomically, half-float conversion.
#include "common.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int err_set(Err* err, const char* fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void* malloc_check(size_t size, const char* file, int line) {
    void* p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory: %zu bytes at %s:%d\n", size, file, line);
        abort();
    }
    return p;
}

void* calloc_check(size_t n, size_t size, const char* file, int line) {
    void* p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory: %zu x %zu bytes at %s:%d\n", n, size, file, line);
        abort();
    }
    return p;
}

void* realloc_check(void* q, size_t size, const char* file, int line) {
    void* p = realloc(q, size ? size : 1);
    if (!p) {
        fprintf(stderr, "out of memory: %zu bytes at %s:%d\n", size, file, line);
        abort();
    }
    return p;
}

char* xstrdup(const char* s) {
    size_t n = strlen(s) + 1;
    char* p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

int name_index(const char* const* names, int n, const char* s) {
    for (int i = 0; s && i < n; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

int require_regular_file(const char* path, size_t* size_out, Err* err) {
    struct stat st;
    if (stat(path, &st) != 0) return err_set(err, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return err_set(err, "%s: is a directory, expected a regular file", path);
    if (!S_ISREG(st.st_mode)) return err_set(err, "%s: not a regular file (a FIFO or device?), expected a regular file", path);
    if (size_out) *size_out = (size_t)st.st_size;
    return 0;
}

char* read_json_file(const char* path, Err* err) {
    size_t size;
    if (require_regular_file(path, &size, err)) return NULL;
    if (size > JSON_MAX_BYTES) {
        err_set(err, "%s: %zu bytes, larger than the %zu MB a JSON file may have", path, size, JSON_MAX_BYTES >> 20);
        return NULL;
    }
    return read_file_text(path, NULL, err);
}

// Standard input, read whole the first time a reader asks for "-" and kept for the others (eval
// and profile look at it to tell JSONL from text before they read it).
static char* g_stdin;
static size_t g_stdin_len;

static const char* stdin_text(size_t* len, Err* err) {
    if (!g_stdin) {
        size_t cap = 1 << 16, n = 0, got;
        char* buf = xmalloc(cap);
        while ((got = fread(buf + n, 1, cap - n - 1, stdin)) > 0)
            if ((n += got) == cap - 1) buf = xrealloc(buf, cap *= 2);
        if (ferror(stdin)) {
            free(buf);
            err_set(err, "standard input (-): read error");
            return NULL;
        }
        buf[n] = 0;
        g_stdin = buf;
        g_stdin_len = n;
    }
    *len = g_stdin_len;
    return g_stdin;
}

FILE* open_input(const char* path, Err* err) {
    if (!strcmp(path, "-")) {
        size_t len;
        const char* text = stdin_text(&len, err);
        if (!text) return NULL;
        FILE* f = fmemopen((void*)text, len, "rb");  // glibc >= 2.22 takes len 0 (end of file at once)
        if (!f) err_set(err, "standard input (-): cannot read: %s", strerror(errno));
        return f;
    }
    if (require_regular_file(path, NULL, err)) return NULL;  // a FIFO would block fopen()
    FILE* f = fopen(path, "rb");
    if (!f) err_set(err, "%s: cannot open: %s", path, strerror(errno));
    return f;
}

int input_is_jsonl(const char* path) {
    size_t n = strlen(path), len;
    if (n > 6 && !strcmp(path + n - 6, ".jsonl")) return 1;
    if (strcmp(path, "-")) return 0;
    const char* p = stdin_text(&len, NULL);
    while (p && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
    return p && *p == '{';
}

char* read_file_text(const char* path, size_t* len_out, Err* err) {
    if (!strcmp(path, "-")) {
        size_t len;
        const char* text = stdin_text(&len, err);
        if (!text) return NULL;
        char* copy = xmalloc(len + 1);
        memcpy(copy, text, len + 1);
        if (len_out) *len_out = len;
        return copy;
    }
    if (require_regular_file(path, NULL, err)) return NULL;
    FILE* f = fopen(path, "rb");
    if (!f) {
        err_set(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char* buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        err_set(err, "%s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    if (len_out) *len_out = len;
    return buf;
}

int atomic_open(AtomicFile* af, const char* path, Err* err) {
    snprintf(af->final_path, sizeof af->final_path, "%s", path);
    af->to_stdout = !strcmp(path, "-");
    if (af->to_stdout) {
        af->tmp_path[0] = 0;
        af->f = stdout;
        return 0;
    }
    snprintf(af->tmp_path, sizeof af->tmp_path, "%s.tmp.%ld", path, (long)getpid());
    af->f = fopen(af->tmp_path, "wb");
    // named as the user gave it: the temporary name means nothing to them (a missing directory)
    if (!af->f) return err_set(err, "%s: cannot create: %s", path, strerror(errno));
    return 0;
}

int atomic_commit(AtomicFile* af, Err* err) {
    if (af->to_stdout) {
        int bad = fflush(stdout) != 0 || ferror(stdout);
        af->f = NULL;
        return bad ? err_set(err, "standard output: write failed") : 0;
    }
    int bad = ferror(af->f);
    if (fflush(af->f) != 0) bad = 1;
    if (fsync(fileno(af->f)) != 0 && errno != EINVAL) bad = 1;
    if (fclose(af->f) != 0) bad = 1;
    af->f = NULL;
    if (bad) {
        unlink(af->tmp_path);
        return err_set(err, "%s: write failed (disk full?)", af->final_path);
    }
    if (rename(af->tmp_path, af->final_path) != 0) {
        int e = errno;
        unlink(af->tmp_path);
        return err_set(err, "%s: cannot rename into place: %s", af->final_path, strerror(e));
    }
    return 0;
}

void atomic_abort(AtomicFile* af) {
    if (af->to_stdout) {
        af->f = NULL;
        return;
    }
    if (af->f) fclose(af->f);
    af->f = NULL;
    unlink(af->tmp_path);
}

int atomic_remove_stale(const char* dir) {
    DIR* d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    struct dirent* e;
    while ((e = readdir(d))) {
        const char *tag = NULL, *p = e->d_name;
        while ((p = strstr(p, ".tmp."))) tag = p++;  // the last ".tmp." of the name
        if (!tag || !tag[5]) continue;
        char* end;
        long pid = strtol(tag + 5, &end, 10);
        if (*end || tag[5] < '1' || tag[5] > '9' || pid > 4194304 || pid == (long)getpid()) continue;  // 2^22: Linux's PID limit
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;  // alive (EPERM: alive, someone else's)
        char path[4200];
        struct stat st;
        if (lstat(path_join(path, sizeof path, dir, e->d_name), &st) == 0 && S_ISREG(st.st_mode) && unlink(path) == 0) removed++;
    }
    closedir(d);
    return removed;
}

int write_file_atomic(const char* path, const void* data, size_t len, Err* err) {
    AtomicFile af;
    if (atomic_open(&af, path, err)) return -1;
    if (len && fwrite(data, 1, len, af.f) != len) {
        atomic_abort(&af);
        return err_set(err, "%s: write failed", path);
    }
    return atomic_commit(&af, err);
}

char* path_join(char* out, size_t n, const char* dir, const char* name) {
    size_t dl = strlen(dir);
    if (dl && dir[dl - 1] == '/')
        snprintf(out, n, "%s%s", dir, name);
    else
        snprintf(out, n, "%s/%s", dir, name);
    return out;
}

int file_exists(const char* path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int mkdir_p(const char* path, Err* err) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char* p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return err_set(err, "%s: cannot create directory: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return err_set(err, "%s: cannot create directory: %s", buf, strerror(errno));
    return 0;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // keep NaN a NaN
    u += 0x7fffu + ((u >> 16) & 1);  // round to nearest even
    return (uint16_t)(u >> 16);
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0) {  // zero or subnormal: value = man * 2^-24
        float v = (float)man * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (man << 13));
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return sign | 0x7e00;      // NaN
    if (a >= 0x477ff000u) return sign | 0x7c00;     // overflow to inf (>= 65520 rounds up)
    if (a < 0x38800000u) {                          // below the smallest normal: subnormal or 0
        float v = bits_f32(a) * 16777216.0f;        // in units of 2^-24
        uint32_t m = (uint32_t)v;
        float rem = v - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1))) m++;
        return sign | (uint16_t)m;
    }
    uint32_t e = (a >> 23) - 112, m = a & 0x7fffff;
    uint32_t h = (e << 10) | (m >> 13);
    uint32_t rest = m & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++;  // carry into the exponent is correct
    return sign | (uint16_t)h;
}
