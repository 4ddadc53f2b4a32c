// data.h: training data.
// - Plain text (pretraining): the file is split into documents at a separator (default: a line
//   "<|endoftext|>" if there is one, else a blank line), each document is tokenised (with the
//   tokenizer's special tokens) and followed by EOS;
//   documents are assigned to the held-out split by a seeded hash of their index, so the split is
//   by document and the same on every run. Training batches are random windows of the training
//   stream; validation batches are fixed windows spread over the held-out stream.
// - JSONL (fine-tuning): one object per line with string fields "prompt" and "response"; the
//   example is [prompt tokens (with special tokens)] [response tokens] [EOS] and only response
//   positions (and EOS) are scored. Bad lines are errors naming the line, or skipped and counted.
#ifndef SLIMSCOPE_DATA_H
#define SLIMSCOPE_DATA_H

#include "model.h"
#include "tokenizer.h"
#include "train.h"

// ---------------------------------------------------------------------------------------------
// plain text

typedef struct {
    int* train;            // training stream (documents joined, each followed by EOS when eos >= 0)
    size_t n_train;
    int* val;              // held-out stream
    size_t n_val;
    int n_docs, n_val_docs;
} TextData;

// doc_sep NULL or "" = a line "<|endoftext|>" when the file has one, else a blank line;
// val_frac in [0, 1); eos < 0: nothing between documents.
int text_data_load(TextData* d, const char* path, const Tokenizer* tok, const char* doc_sep, float val_frac,
                   uint64_t seed, int eos, Err* err);
// The same from already tokenised documents (tests, tools).
void text_data_from_docs(TextData* d, int* const* docs, const int* lens, int n_docs, float val_frac, uint64_t seed,
                         int eos);
// Appends a whole file as held-out text (--val-data), documents split as above.
int text_data_load_val(TextData* d, const char* path, const Tokenizer* tok, const char* doc_sep, int eos, Err* err);
void text_data_free(TextData* d);

// Fills b (whose buffers hold b->B * b->T) with B random windows of T + 1 tokens of the training
// stream: tokens = window[0..T), targets = window[1..T].
void text_data_sample(const TextData* d, Batch* b, Rng* rng);
// Up to max_batches batches of B fixed windows spread evenly over the held-out stream (fewer when
// the stream is short). Returns the count; free with batches_free.
int text_data_val_batches(const TextData* d, int B, int T, int max_batches, Batch** out);
void batches_free(Batch* b, int n);

// ---------------------------------------------------------------------------------------------
// prompt / response JSONL

typedef struct {
    int* tokens;           // every example's tokens, concatenated
    size_t* off;           // (n + 1) example i is tokens[off[i] .. off[i+1])
    int* n_prompt;         // (n) tokens of the prompt part (not scored)
    int n, cap;
    size_t n_tokens, cap_tokens;
    int n_bad;             // lines skipped with skip_bad
} SftData;

// Reads path (JSONL). A line that is not a JSON object with string "prompt" and "response" is an
// error "path:LINE: ..." unless skip_bad, which skips it (reported on stderr) and counts it.
// Blank lines are ignored.
int sft_data_load(SftData* d, const char* path, const Tokenizer* tok, int eos, int skip_bad, Err* err);
// Tokenises one example as sft_data_load does: *ids = prompt (add_special) + response + [eos].
int sft_encode(const Tokenizer* tok, const char* prompt, const char* response, int eos, int** ids, int* n,
               int* n_prompt, Err* err);
void sft_data_add(SftData* d, const int* ids, int n, int n_prompt);
void sft_data_free(SftData* d);

// Epoch-wise shuffled batches. State (epoch, pos) is all a resume needs: the permutation of an
// epoch is derived from (seed, epoch).
typedef struct {
    uint64_t seed;
    int epoch, pos;
    int* perm;
    int n;
} SftSampler;

void sft_sampler_init(SftSampler* s, const SftData* d, uint64_t seed);
void sft_sampler_seek(SftSampler* s, int epoch, int pos);
void sft_sampler_free(SftSampler* s);
// Fills b (buffers of B * max_T) with the next B examples: inputs are example[0..len-1), targets
// the next tokens on response positions (-1 elsewhere); T = the longest in the batch, rounded up
// to a multiple of 8, at most max_T (longer examples keep their last max_T + 1 tokens); b->lens
// (B ints) gets each row's length. Returns the number of truncated examples.
int sft_next_batch(SftSampler* s, const SftData* d, Batch* b, int B, int max_T);

#endif
