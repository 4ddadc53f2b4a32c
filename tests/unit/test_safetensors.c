// test_safetensors.c: st_write / st_open round trips for F32, F16 and BF16 with hand-derived bit
// patterns, the on-disk layout (8-byte length, header padded to 8 bytes, no temporary left behind),
// and every kind of malformed file, built byte by byte here (never with st_write), each checked for
// a one-line error that names the file and the problem.
#include "testutil.h"

#include <dirent.h>
#include <sys/stat.h>

#include "safetensors.h"

// ---------------------------------------------------------------------------------------------
// helpers

static char g_dir[64];

static int setup(void** state) {
    test_tmpdir(g_dir);
    return 0;
}

static int teardown(void** state) {
    test_rmrf(g_dir);
    return 0;
}

static char* tmp_path(char* buf, size_t n, const char* name) {
    snprintf(buf, n, "%s/%s", g_dir, name);
    return buf;
}

static void write_bytes(const char* path, const void* data, size_t n) {
    FILE* f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

// Reads a whole file; *n receives its size.
static unsigned char* slurp(const char* path, size_t* n) {
    FILE* f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char* buf = malloc(sz ? sz : 1);
    assert_int_equal(fread(buf, 1, sz, f), (size_t)sz);
    fclose(f);
    *n = (size_t)sz;
    return buf;
}

// A safetensors file by hand: u64 LE header length `hlen` (normally strlen(header)), the header
// bytes, then `data_len` data bytes.
static void write_raw(const char* path, uint64_t hlen, const char* header, const void* data, size_t data_len) {
    size_t jl = strlen(header);
    size_t n = 8 + jl + data_len;
    unsigned char* buf = calloc(1, n);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, header, jl);
    if (data_len) memcpy(buf + 8 + jl, data, data_len);
    write_bytes(path, buf, n);
    free(buf);
}

static void write_st(const char* path, const char* header, size_t data_len) {
    unsigned char* data = calloc(1, data_len ? data_len : 1);
    for (size_t i = 0; i < data_len; i++) data[i] = (unsigned char)i;
    write_raw(path, strlen(header), header, data, data_len);
    free(data);
}

// st_open must fail; the message is one line holding the path and every given phrase.
static void expect_open_error(const char* path, const char* phrase1, const char* phrase2) {
    StFile f;
    Err err = {{0}};
    int rc = st_open(&f, path, &err);
    if (rc == 0) {
        st_close(&f);
        fail_msg("st_open(%s) succeeded, expected an error containing '%s'", path, phrase1);
    }
    assert_int_equal(rc, -1);
    if (!strstr(err.msg, path)) fail_msg("error does not name the file %s: %s", path, err.msg);
    if (!strstr(err.msg, phrase1)) fail_msg("error lacks '%s': %s", phrase1, err.msg);
    if (phrase2 && !strstr(err.msg, phrase2)) fail_msg("error lacks '%s': %s", phrase2, err.msg);
    if (strchr(err.msg, '\n')) fail_msg("error is more than one line: %s", err.msg);
    // a failed open leaves nothing mapped or allocated
    assert_null(f.map);
    assert_null(f.tensors);
    assert_int_equal(f.n, 0);
}

static uint16_t u16_at(const unsigned char* p) { return (uint16_t)(p[0] | p[1] << 8); }

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

// ---------------------------------------------------------------------------------------------
// round trips. Expected bit patterns are derived by hand (IEEE 754 binary16 / bfloat16, round to
// nearest, ties to even), written out next to each value.

#define N_VALS 12
static const float VALS[N_VALS] = {
    1.0f,                       // f16 0x3C00, bf16 0x3F80
    -2.5f,                      // -1.25 * 2^1: f16 0xC100, bf16 0xC020
    65504.0f,                   // f16 max 0x7BFF; bf16: 0x477FE000 -> round up -> 0x4780 (65536)
    1.0f / 3.0f,                // f32 0x3EAAAAAB; f16 0x3555 (0.333251953125); bf16 0x3EAB (0.333984375)
    0.1f,                       // f16 0x2E66 (0.0999755859375); bf16 0x3DCD (0.10009765625)
    5.9604644775390625e-8f,     // 2^-24: the smallest f16 subnormal 0x0001; bf16 0x3380
    2.98023223876953125e-8f,    // 2^-25: f16 tie between 0 and 2^-24 -> even -> 0x0000; bf16 0x3300
    8.94069671630859375e-8f,    // 3 * 2^-25: f16 tie between 1 and 2 units -> even -> 0x0002
    6.103515625e-5f,            // 2^-14: the smallest f16 normal 0x0400
    1.00048828125f,             // 1 + 2^-11: f16 tie -> even -> 0x3C00
    1.00146484375f,             // 1 + 3 * 2^-11: f16 tie between 0x3C01 and 0x3C02 -> 0x3C02
    1.01171875f,                // 1 + 3 * 2^-8: bf16 tie between 0x3F81 and 0x3F82 -> 0x3F82
};
static const uint16_t F16_BITS[N_VALS] = {0x3C00, 0xC100, 0x7BFF, 0x3555, 0x2E66, 0x0001,
                                          0x0000, 0x0002, 0x0400, 0x3C00, 0x3C02, 0x3C0C};
static const float F16_BACK[N_VALS] = {1.0f, -2.5f, 65504.0f, 0.333251953125f, 0.0999755859375f,
                                       5.9604644775390625e-8f, 0.0f, 1.1920928955078125e-7f,
                                       6.103515625e-5f, 1.0f, 1.001953125f, 1.01171875f};  // last: 1 + 12/1024, exact
static const uint16_t BF16_BITS[N_VALS] = {0x3F80, 0xC020, 0x4780, 0x3EAB, 0x3DCD, 0x3380,
                                           0x3300, 0x33C0, 0x3880, 0x3F80, 0x3F80, 0x3F82};
static const float BF16_BACK[N_VALS] = {1.0f, -2.5f, 65536.0f, 0.333984375f, 0.10009765625f,
                                        5.9604644775390625e-8f, 2.98023223876953125e-8f,
                                        8.94069671630859375e-8f, 6.103515625e-5f, 1.0f, 1.0f, 1.015625f};

// Writes VALS as one tensor of shape (3, 4) in dtype d, checks the bytes on disk and the values read back.
static void round_trip(DType d, const char* fname) {
    char path[256];
    tmp_path(path, sizeof path, fname);
    StWrite w = {.name = "w", .dtype = d, .ndim = 2, .shape = {3, 4}, .data = VALS};
    Err err = {{0}};
    if (st_write(path, &w, 1, NULL, &err)) fail_msg("st_write: %s", err.msg);

    uint16_t bits[N_VALS];
    float back[N_VALS];
    if (d == DT_F16) {
        memcpy(bits, F16_BITS, sizeof bits);
        memcpy(back, F16_BACK, sizeof back);
    }
    if (d == DT_BF16) {
        memcpy(bits, BF16_BITS, sizeof bits);
        memcpy(back, BF16_BACK, sizeof back);
    }
    if (d == DT_F32) memcpy(back, VALS, sizeof back);

    // the raw bytes: data starts right after the (padded) header
    size_t n;
    unsigned char* raw = slurp(path, &n);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
    size_t esize = d == DT_F32 ? 4 : 2;
    assert_int_equal(n, 8 + hlen + N_VALS * esize);
    for (int i = 0; i < N_VALS; i++) {
        const unsigned char* p = raw + 8 + hlen + i * esize;
        if (d == DT_F32) {
            uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
            if (u != f32_bits(VALS[i])) fail_msg("%s value %d: bits 0x%08x, expected 0x%08x", fname, i, u, f32_bits(VALS[i]));
        } else if (u16_at(p) != bits[i]) {
            fail_msg("%s value %d (%.10g): bits 0x%04x, expected 0x%04x", fname, i, VALS[i], u16_at(p), bits[i]);
        }
    }
    free(raw);

    StFile f;
    if (st_open(&f, path, &err)) fail_msg("st_open: %s", err.msg);
    assert_int_equal(f.n, 1);
    const StTensor* t = st_find(&f, "w");
    assert_non_null(t);
    assert_int_equal(t->dtype, d);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 3);
    assert_int_equal(t->shape[1], 4);
    assert_int_equal(t->numel, 12);
    assert_int_equal(t->nbytes, 12 * esize);
    assert_null(st_find(&f, "v"));
    float got[N_VALS];
    st_to_f32(got, t->data, t->dtype, N_VALS);
    for (int i = 0; i < N_VALS; i++)
        if (f32_bits(got[i]) != f32_bits(back[i]))
            fail_msg("%s value %d: read %.10g, expected %.10g", fname, i, got[i], back[i]);
    st_close(&f);
}

static void test_round_trip_f32(void** state) { round_trip(DT_F32, "f32.safetensors"); }
static void test_round_trip_f16(void** state) { round_trip(DT_F16, "f16.safetensors"); }
static void test_round_trip_bf16(void** state) { round_trip(DT_BF16, "bf16.safetensors"); }

// Overflow and negative zero: 65520 is halfway between f16 max (odd mantissa) and 2^16 -> inf.
static void test_f16_bf16_edges(void** state) {
    float v[4] = {65520.0f, -0.0f, -65536.0f * 2, 3.0e38f};
    uint16_t f16[4] = {0x7C00, 0x8000, 0xFC00, 0x7C00};
    // bf16: 3e38 = 0x7F61B1E6 -> 0x7F62; -131072 = 0xC8000000 -> 0xC800; 65520 = 0x477FF000 -> 0x4780
    uint16_t bf16[4] = {0x4780, 0x8000, 0xC800, 0x7F62};
    char p1[256], p2[256];
    StWrite w = {.name = "e", .dtype = DT_F16, .ndim = 1, .shape = {4}, .data = v};
    Err err;
    if (st_write(tmp_path(p1, sizeof p1, "e16.safetensors"), &w, 1, NULL, &err)) fail_msg("%s", err.msg);
    w.dtype = DT_BF16;
    if (st_write(tmp_path(p2, sizeof p2, "eb16.safetensors"), &w, 1, NULL, &err)) fail_msg("%s", err.msg);
    StFile a, b;
    if (st_open(&a, p1, &err) || st_open(&b, p2, &err)) fail_msg("%s", err.msg);
    const unsigned char* da = st_find(&a, "e")->data;
    const unsigned char* db = st_find(&b, "e")->data;
    for (int i = 0; i < 4; i++) {
        if (u16_at(da + 2 * i) != f16[i]) fail_msg("f16 of %g: 0x%04x, expected 0x%04x", v[i], u16_at(da + 2 * i), f16[i]);
        if (u16_at(db + 2 * i) != bf16[i]) fail_msg("bf16 of %g: 0x%04x, expected 0x%04x", v[i], u16_at(db + 2 * i), bf16[i]);
    }
    float back[4];
    st_to_f32(back, da, DT_F16, 4);
    assert_true(isinf(back[0]) && back[0] > 0);
    assert_true(back[1] == 0.0f && signbit(back[1]));
    st_close(&a);
    st_close(&b);
}

// Several tensors of mixed dtypes: offsets are contiguous, the header length is a multiple of 8,
// the data begins 8-byte aligned, metadata is kept out of the tensor list, st_find finds each.
static void test_layout_and_padding(void** state) {
    float a[3] = {1, 2, 3}, b[2] = {-1, 0.5f}, c[5] = {0};
    // names of different lengths, so that some header needs padding
    const char* name_sets[3][3] = {{"a", "bb", "ccc"}, {"alpha", "b", "c.weight"}, {"x.y.z", "q", "rr"}};
    for (int s = 0; s < 3; s++) {
        StWrite w[3] = {{.name = name_sets[s][0], .dtype = DT_F32, .ndim = 1, .shape = {3}, .data = a},
                        {.name = name_sets[s][1], .dtype = DT_BF16, .ndim = 2, .shape = {1, 2}, .data = b},
                        {.name = name_sets[s][2], .dtype = DT_F16, .ndim = 1, .shape = {5}, .data = c}};
        const char* md[] = {"format", "pt", NULL};
        char path[256];
        snprintf(path, sizeof path, "%s/layout%d.safetensors", g_dir, s);
        Err err;
        if (st_write(path, w, 3, md, &err)) fail_msg("%s", err.msg);
        size_t n;
        unsigned char* raw = slurp(path, &n);
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = hlen << 8 | raw[i];
        assert_int_equal(hlen % 8, 0);
        assert_int_equal(n, 8 + hlen + 12 + 4 + 10);
        // padding is spaces (JSON whitespace), and the header holds the metadata
        assert_true(raw[8] == '{');
        size_t last = 8 + hlen - 1;
        while (raw[last] == ' ') last--;
        assert_true(raw[last] == '}');
        assert_true(8 + hlen - 1 - last < 8);
        char* hdr = strndup((char*)raw + 8, hlen);
        assert_non_null(strstr(hdr, "\"__metadata__\""));
        assert_non_null(strstr(hdr, "\"pt\""));
        free(hdr);
        StFile f;
        if (st_open(&f, path, &err)) fail_msg("%s", err.msg);
        assert_int_equal(f.n, 3);
        const StTensor* t0 = st_find(&f, name_sets[s][0]);
        const StTensor* t1 = st_find(&f, name_sets[s][1]);
        const StTensor* t2 = st_find(&f, name_sets[s][2]);
        assert_non_null(t0);
        assert_non_null(t1);
        assert_non_null(t2);
        assert_null(st_find(&f, "__metadata__"));
        const unsigned char* base = (const unsigned char*)f.map + 8 + hlen;
        assert_ptr_equal(t0->data, base);
        assert_ptr_equal(t1->data, base + 12);
        assert_ptr_equal(t2->data, base + 16);
        assert_int_equal(((uintptr_t)base) % 8, 0);
        assert_int_equal(t1->dtype, DT_BF16);
        assert_int_equal(t2->dtype, DT_F16);
        float got[3];
        st_to_f32(got, t0->data, DT_F32, 3);
        assert_true(got[0] == 1 && got[1] == 2 && got[2] == 3);
        st_to_f32(got, t1->data, DT_BF16, 2);
        assert_true(got[0] == -1 && got[1] == 0.5f);
        free(raw);
        st_close(&f);
    }
}

// The writer goes through a temporary file and rename: afterwards the directory holds exactly the
// target; a failed write (directory missing) leaves nothing behind; overwriting replaces the file.
static void test_atomic_write(void** state) {
    char sub[256], path[300];
    snprintf(sub, sizeof sub, "%s/atomic", g_dir);
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(path, sizeof path, "%s/out.safetensors", sub);
    float v[2] = {1, 2};
    StWrite w = {.name = "v", .dtype = DT_F32, .ndim = 1, .shape = {2}, .data = v};
    Err err;
    for (int round = 0; round < 2; round++) {
        if (st_write(path, &w, 1, NULL, &err)) fail_msg("%s", err.msg);
        DIR* d = opendir(sub);
        assert_non_null(d);
        struct dirent* e;
        int count = 0;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            count++;
            if (strcmp(e->d_name, "out.safetensors")) fail_msg("unexpected file left behind: %s", e->d_name);
        }
        closedir(d);
        assert_int_equal(count, 1);
        v[0] = 7;  // second round overwrites
    }
    StFile f;
    if (st_open(&f, path, &err)) fail_msg("%s", err.msg);
    assert_true(((const float*)st_find(&f, "v")->data)[0] == 7.0f);
    st_close(&f);

    char bad[300];
    snprintf(bad, sizeof bad, "%s/no-such-dir/out.safetensors", g_dir);
    err.msg[0] = 0;
    assert_int_equal(st_write(bad, &w, 1, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "no-such-dir"));
    assert_null(strchr(err.msg, '\n'));
}

// A hand-built minimal file (no padding, no metadata) that follows the format is accepted.
static void test_hand_built_valid(void** state) {
    char path[256];
    tmp_path(path, sizeof path, "hand.safetensors");
    // 1.5f = 0x3FC00000, little-endian; bf16 -2.0 = 0xC000
    const unsigned char data[] = {0x00, 0x00, 0xC0, 0x3F, 0x00, 0xC0};
    const char* hdr =
        "{\"b\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[4,6]},\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}";
    write_raw(path, strlen(hdr), hdr, data, sizeof data);
    StFile g;
    Err e2;
    if (st_open(&g, path, &e2)) fail_msg("unpadded: %s", e2.msg);
    st_close(&g);
    // the same header padded with whitespace, as writers pad it to a multiple of 8
    char padded[256];
    snprintf(padded, sizeof padded, "%s  \t\n ", hdr);
    write_raw(path, strlen(padded), padded, data, sizeof data);
    StFile f;
    Err err;
    if (st_open(&f, path, &err)) fail_msg("%s", err.msg);
    assert_int_equal(f.n, 2);
    const StTensor* a = st_find(&f, "a");
    const StTensor* b = st_find(&f, "b");
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->ndim, 0);  // a scalar: shape [] holds one element
    assert_int_equal(a->numel, 1);
    float x;
    st_to_f32(&x, a->data, a->dtype, 1);
    assert_true(x == 1.5f);
    st_to_f32(&x, b->data, b->dtype, 1);
    assert_true(x == -2.0f);
    st_close(&f);
}

// A zero-element tensor sits at the boundary between two others (offsets [8, 8]); it overlaps
// nothing, in whichever order the header lists the tensors.
static void test_empty_tensor_between_others(void** state) {
    const char* headers[2] = {
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]},"
        "\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"c\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
        "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
    };
    for (int i = 0; i < 2; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/empty%d.safetensors", g_dir, i);
        write_st(path, headers[i], 16);
        StFile f;
        Err err = {{0}};
        if (st_open(&f, path, &err)) fail_msg("header order %d: %s", i, err.msg);
        assert_int_equal(f.n, 3);
        assert_int_equal(st_find(&f, "e")->numel, 0);
        st_close(&f);
    }
}

// ---------------------------------------------------------------------------------------------
// bad input: every file below is built by hand

static void test_missing_file(void** state) {
    char path[256];
    expect_open_error(tmp_path(path, sizeof path, "nope.safetensors"), "cannot open", "No such file");
}

static void test_truncated(void** state) {
    char path[256];
    tmp_path(path, sizeof path, "trunc.safetensors");
    const unsigned char five[5] = {8, 0, 0, 0, 0};
    write_bytes(path, five, sizeof five);
    expect_open_error(path, "truncated", "5 bytes");
    write_bytes(path, five, 0);
    expect_open_error(path, "truncated", "0 bytes");
    write_bytes(path, five, 1);
    expect_open_error(path, "truncated", "1 bytes");
}

static void test_not_a_regular_file(void** state) {
    expect_open_error(g_dir, "is a directory", NULL);
    // open() of a FIFO blocks until a writer comes: the check must come first (the alarm fails a hang)
    char path[256];
    tmp_path(path, sizeof path, "fifo.safetensors");
    assert_int_equal(mkfifo(path, 0600), 0);
    alarm(20);
    expect_open_error(path, "not a regular file", NULL);
    expect_open_error("/dev/zero", "not a regular file", NULL);
    alarm(0);
}

static void test_header_past_end(void** state) {
    char path[256];
    tmp_path(path, sizeof path, "hlen.safetensors");
    const char* hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    unsigned char data[4] = {0};
    // the header claims 1000 bytes; the file has 8 + strlen + 4
    write_raw(path, 1000, hdr, data, 4);
    expect_open_error(path, "header length 1000", "past the end");
    // one byte more than the file holds after the length field
    write_raw(path, strlen(hdr) + 5, hdr, data, 4);
    expect_open_error(path, "past the end", NULL);
    // a length near 2^64 must not wrap around
    write_raw(path, UINT64_MAX, hdr, data, 4);
    expect_open_error(path, "header length 18446744073709551615", "past the end");
    write_raw(path, (uint64_t)1 << 63, hdr, data, 4);
    expect_open_error(path, "header length", "past the end");
    // exactly 8 bytes: a header length with nothing after it
    write_raw(path, 2, "", NULL, 0);
    expect_open_error(path, "header length 2", "past the end");
}

static void test_header_not_json(void** state) {
    char path[256];
    tmp_path(path, sizeof path, "notjson.safetensors");
    write_st(path, "this is not json", 0);
    expect_open_error(path, "not a JSON object", NULL);
    write_st(path, "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}", 4);  // missing '}'
    expect_open_error(path, "not a JSON object", NULL);
    write_st(path, "[1, 2, 3]", 0);
    expect_open_error(path, "not a JSON object", NULL);
    write_raw(path, 0, "", NULL, 0);  // zero-length header
    expect_open_error(path, "not a JSON object", NULL);
    // bytes after the object that are not padding
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}xyz", 4);
    expect_open_error(path, "not a JSON object", NULL);
    write_st(path, "{\"a\":[1]}", 0);
    expect_open_error(path, "tensor 'a'", "not an object");
}

// data_offsets reach past the end of the data section (the header itself is not data).
static void test_offsets_outside_data(void** state) {
    char path[256];
    tmp_path(path, sizeof path, "offs.safetensors");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 12);
    expect_open_error(path, "tensor 'w'", "data_offsets [0, 16] reach past the end of the data (12 bytes)");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[100,104]}}", 8);
    expect_open_error(path, "tensor 'w'", "past the end of the data");
    // end before begin
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8);
    expect_open_error(path, "tensor 'w'", "not an ordered pair");
    // negative and fractional offsets
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 8);
    expect_open_error(path, "tensor 'w'", "data_offsets");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.5,4.5]}}", 8);
    expect_open_error(path, "tensor 'w'", "not whole numbers");
    // huge offsets
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[1e300,1e300]}}", 8);
    expect_open_error(path, "tensor 'w'", "past the end of the data");
    // malformed data_offsets
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 8);
    expect_open_error(path, "tensor 'w'", "'data_offsets' must be [begin, end]");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",\"4\"]}}", 8);
    expect_open_error(path, "tensor 'w'", "'data_offsets' must be [begin, end]");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 8);
    expect_open_error(path, "tensor 'w'", "data_offsets");
}

static void test_overlapping(void** state) {
    char path[256];
    tmp_path(path, sizeof path, "overlap.safetensors");
    // b starts inside a
    write_st(path,
             "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
             "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
             16);
    expect_open_error(path, "'a' and 'b' overlap", NULL);
    // the same region twice, listed in the other order
    write_st(path,
             "{\"y\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[4,8]},"
             "\"x\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]}}",
             8);
    expect_open_error(path, "overlap", NULL);
    // one region inside another, three tensors
    write_st(path,
             "{\"p\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]},"
             "\"q\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
             "\"r\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]}}",
             24);
    expect_open_error(path, "'q' and 'r' overlap", NULL);
}

static void test_unknown_dtype(void** state) {
    char path[256];
    tmp_path(path, sizeof path, "dtype.safetensors");
    write_st(path, "{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8);
    expect_open_error(path, "tensor 'w'", "dtype 'F64' not supported");
    write_st(path, "{\"w\":{\"dtype\":\"Q4\",\"shape\":[2],\"data_offsets\":[0,1]}}", 8);
    expect_open_error(path, "tensor 'w'", "dtype 'Q4' not supported");
    write_st(path, "{\"w\":{\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8);  // case matters
    expect_open_error(path, "tensor 'w'", "dtype 'f32' not supported");
    write_st(path, "{\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    expect_open_error(path, "tensor 'w'", "dtype");
    write_st(path, "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8);
    expect_open_error(path, "tensor 'w'", "dtype");
}

// bytes in data_offsets must equal product(shape) * dtype size
static void test_shape_size_mismatch(void** state) {
    char path[256];
    tmp_path(path, sizeof path, "size.safetensors");
    // (2, 3) F32 needs 24 bytes, the offsets give 20
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24);
    expect_open_error(path, "tensor 'w'", "20 bytes in data_offsets but shape [2, 3] x F32 needs 24");
    // (4) BF16 needs 8, the offsets give 16 (as if F32)
    write_st(path, "{\"w\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16);
    expect_open_error(path, "tensor 'w'", "16 bytes in data_offsets but shape [4] x BF16 needs 8");
    // a zero dimension needs zero bytes
    write_st(path, "{\"w\":{\"dtype\":\"F16\",\"shape\":[3,0],\"data_offsets\":[0,2]}}", 2);
    expect_open_error(path, "tensor 'w'", "2 bytes in data_offsets but shape [3, 0] x F16 needs 0");
}

static void test_bad_shape(void** state) {
    char path[256];
    tmp_path(path, sizeof path, "shape.safetensors");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4);
    expect_open_error(path, "tensor 'w'", "shape[0] is not a non-negative integer");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]}}", 4);
    expect_open_error(path, "tensor 'w'", "shape[1] is not a non-negative integer");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8);
    expect_open_error(path, "tensor 'w'", "shape[0]");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,16]}}", 16);
    expect_open_error(path, "tensor 'w'", "shape");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4);
    expect_open_error(path, "tensor 'w'", "dimensions");
    // 2^32 x 2^32 elements: the product must not wrap around to 0 and match an empty region
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 4);
    expect_open_error(path, "tensor 'w'", "shape");
    write_st(path, "{\"w\":{\"dtype\":\"F32\",\"shape\":[65536,65536,65536,65536],\"data_offsets\":[0,0]}}", 4);
    expect_open_error(path, "tensor 'w'", "shape");
}

// JSON allows a key twice; safetensors does not.
static void test_duplicate_name(void** state) {
    char path[256];
    tmp_path(path, sizeof path, "dup.safetensors");
    write_st(path,
             "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
             "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
             8);
    expect_open_error(path, "tensor 'w' appears twice", NULL);
}

// ---------------------------------------------------------------------------------------------
// non-finite values

// Reference: the first element whose widened value is not finite, one element at a time in double.
static size_t nonfinite_ref(const unsigned char* p, DType d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double v;
        if (d == DT_F32) {
            float f;
            memcpy(&f, p + 4 * i, 4);
            v = f;
        } else {
            uint16_t u = u16_at(p + 2 * i);
            v = d == DT_F16 ? f16_to_f32(u) : bf16_to_f32(u);
        }
        if (!isfinite(v)) return i;
    }
    return n;
}

// Buffers of finite values (the largest finite ones included) with NaN / inf planted at chosen
// places: at the start, at block edges, at the end, two at once (the first counts), none; data
// one byte off alignment; sizes that use several threads.
static void test_find_nonfinite(void** state) {
    const DType dts[3] = {DT_F32, DT_F16, DT_BF16};
    const uint32_t bad_f32[3] = {0x7fc00000u, 0x7f800000u, 0xff800001u};  // NaN, +inf, -NaN
    const uint16_t bad_f16[3] = {0x7e00, 0xfc00, 0x7c01}, bad_bf16[3] = {0x7fc0, 0xff80, 0x7f81};
    const uint32_t max_f32 = 0x7f7fffffu;  // largest finite: exponent one below all ones
    const uint16_t max_f16 = 0xfbff, max_bf16 = 0x7f7f;
    const size_t sizes[] = {0, 1, 4095, 4096, 4097, 300001};
    const size_t places[] = {0, 4095, 4096, 4097, 123456, 300000};
    int checked = 0;
    for (int di = 0; di < 3; di++) {
        DType d = dts[di];
        size_t sz = dtype_size(d);
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            size_t n = sizes[si];
            unsigned char* buf = malloc(n * sz + 1);
            unsigned char* p = buf + 1;  // off alignment on purpose
            for (size_t i = 0; i < n; i++) {
                uint32_t u = i % 7 == 0 ? (d == DT_F32 ? max_f32 : d == DT_F16 ? max_f16 : max_bf16)
                                        : (uint32_t)(i * 2654435761u) & (d == DT_F32 ? 0x3fffffffu : 0x3fffu);
                memcpy(p + i * sz, &u, sz);  // little-endian: the low bytes
            }
            assert_int_equal(st_find_nonfinite(p, d, n), n);
            assert_int_equal(nonfinite_ref(p, d, n), n);
            for (size_t pi = 0; pi < sizeof places / sizeof *places; pi++) {
                size_t at = places[pi];
                if (at >= n) continue;
                unsigned char save[8];
                memcpy(save, p + at * sz, sz);
                uint32_t u = d == DT_F32 ? bad_f32[pi % 3] : d == DT_F16 ? bad_f16[pi % 3] : bad_bf16[pi % 3];
                memcpy(p + at * sz, &u, sz);
                assert_int_equal(nonfinite_ref(p, d, n), at);
                size_t got = st_find_nonfinite(p, d, n);
                if (got != at) fail_msg("%s n=%zu: non-finite planted at %zu, found at %zu", dtype_name(d), n, at, got);
                if (at + 5 < n) {  // a second one further on: still the first is reported
                    memcpy(p + (at + 5) * sz, &u, sz);
                    assert_int_equal(st_find_nonfinite(p, d, n), at);
                    memcpy(p + (at + 5) * sz, save, sz);
                }
                memcpy(p + at * sz, save, sz);
                checked++;
            }
            free(buf);
        }
    }
    assert_int_equal(checked, 3 * (0 + 1 + 1 + 2 + 3 + 6));  // places below each size
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_f32),
        cmocka_unit_test(test_round_trip_f16),
        cmocka_unit_test(test_round_trip_bf16),
        cmocka_unit_test(test_f16_bf16_edges),
        cmocka_unit_test(test_layout_and_padding),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_hand_built_valid),
        cmocka_unit_test(test_empty_tensor_between_others),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_not_a_regular_file),
        cmocka_unit_test(test_header_past_end),
        cmocka_unit_test(test_header_not_json),
        cmocka_unit_test(test_offsets_outside_data),
        cmocka_unit_test(test_overlapping),
        cmocka_unit_test(test_unknown_dtype),
        cmocka_unit_test(test_shape_size_mismatch),
        cmocka_unit_test(test_bad_shape),
        cmocka_unit_test(test_duplicate_name),
        cmocka_unit_test(test_find_nonfinite),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
