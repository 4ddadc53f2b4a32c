// common.h: error reporting, checked allocation and small helpers shared by every module.
// The engine (core/, gpu/) never exits on bad input: functions return 0 on success or -1 on
// failure and fill an Err with one line naming the file, the field and what was expected.
#ifndef SLIMSCOPE_COMMON_H
#define SLIMSCOPE_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SLIMSCOPE_VERSION "0.1.0"  // `slimscope --version`, and the first line of a trace

typedef struct {
    char msg[1024];
} Err;

// Formats the message into err (if not NULL) and returns -1, so callers can `return err_set(...)`.
int err_set(Err* err, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Out of memory is not "bad input": like llm.c's mallocCheck, report where and abort.
void* malloc_check(size_t size, const char* file, int line);
void* calloc_check(size_t n, size_t size, const char* file, int line);
void* realloc_check(void* p, size_t size, const char* file, int line);
#define xmalloc(size) malloc_check((size), __FILE__, __LINE__)
#define xcalloc(n, size) calloc_check((n), (size), __FILE__, __LINE__)
#define xrealloc(p, size) realloc_check((p), (size), __FILE__, __LINE__)
char* xstrdup(const char* s);
// Index of s in names[0..n), -1 when it is none of them: every name -> enum lookup.
int name_index(const char* const* names, int n, const char* s);

// Fails (naming path) unless path is a regular file: a FIFO would block open() and /dev/zero would
// never end a read, so every loader calls this before opening. The size goes to *size_out if not NULL.
int require_regular_file(const char* path, size_t* size_out, Err* err);

// Reads a whole regular file into a NUL-terminated buffer. Returns NULL and fills err on failure.
// The path "-" is standard input (for --prompt, --data, --file), here and in open_input.
char* read_file_text(const char* path, size_t* len_out, Err* err);
// Opens a regular file (or "-") to read line by line; fclose it. NULL with err on failure.
FILE* open_input(const char* path, Err* err);
// 1 when a data file is JSONL: its name ends in .jsonl, or it is "-" and starts with '{'.
int input_is_jsonl(const char* path);

// As read_file_text, for the JSON files a loader reads whole (config.json, adapter_config.json...):
// refuses files over JSON_MAX_BYTES so a huge file cannot exhaust memory.
#define JSON_MAX_BYTES ((size_t)64 << 20)
char* read_json_file(const char* path, Err* err);

// Writes data to path through path.tmp.<pid> + rename, so a reader never sees a partial file.
int write_file_atomic(const char* path, const void* data, size_t len, Err* err);

// Opens "<path>.tmp.<pid>" for writing; commit renames it over path, abort removes it. The path
// "-" is standard output (written straight, flushed by commit).
typedef struct {
    FILE* f;
    char final_path[4096];
    char tmp_path[4200];
    int to_stdout;
} AtomicFile;
int atomic_open(AtomicFile* af, const char* path, Err* err);
int atomic_commit(AtomicFile* af, Err* err);
void atomic_abort(AtomicFile* af);
// Removes the temporary files atomic_open left in dir (NAME.tmp.PID) whose process is gone (a run
// killed with -9 while writing); a live PID's file is another run's work and stays. Returns how
// many were removed (0 when dir does not exist).
int atomic_remove_stale(const char* dir);

// Joins dir and name into out (size n). Returns out.
char* path_join(char* out, size_t n, const char* dir, const char* name);
int file_exists(const char* path);
int mkdir_p(const char* path, Err* err);

// Wall clock in seconds (monotonic).
double now_seconds(void);

// float16 / bfloat16 <-> float32 (round to nearest even).
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float bf16_to_f32(uint16_t h);
uint16_t f32_to_bf16(float f);

#endif
