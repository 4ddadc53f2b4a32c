// bpe_train.h: trains a byte-level BPE tokenizer (GPT-2 / Llama-3 style) on a text and writes it as
// a standard Hugging Face tokenizer.json + tokenizer_config.json, loadable by tokenizer_load and by
// the Hugging Face libraries.
//
// The written tokenizer: Llama-3's pre-tokenizer regex (digits in groups of up to three), the
// bytes-to-unicode alphabet with all 256 bytes as ids 0..255 (id = byte value), merged tokens from
// id 256 in merge order, then "<|endoftext|>" (bos, eos) and "<|pad|>" as special added tokens;
// a TemplateProcessing post-processor puts "<|endoftext|>" before each text when special tokens
// are requested; ByteLevel decoder.
#ifndef SLIMSCOPE_BPE_TRAIN_H
#define SLIMSCOPE_BPE_TRAIN_H

#include <stddef.h>

#include "common.h"

#define BPE_TRAIN_MIN_VOCAB 259        // 256 bytes + 2 special tokens + at least one merge
#define BPE_TRAIN_MAX_VOCAB (1 << 20)

typedef struct {
    size_t n_words;   // pre-tokens in the text
    size_t n_types;   // distinct pre-tokens
    int n_merges;     // merges learned
    int vocab_size;   // 256 + new tokens + 2; smaller than asked when no pair occurs twice any more
    double seconds;
} BpeTrainStats;

// Learns merges from text until vocab_size - 258 new tokens exist: pre-token frequencies are counted once, then each step
// merges the most frequent adjacent pair (ties: the smaller (left id, right id)) across word types,
// keeping pair counts up to date incrementally. Writes out_dir/tokenizer.json and
// out_dir/tokenizer_config.json (out_dir is created). stats may be NULL.
int bpe_train(const char* text, size_t len, int vocab_size, const char* out_dir, BpeTrainStats* stats, Err* err);

#endif
