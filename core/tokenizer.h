// tokenizer.h: Hugging Face tokenizer.json (+ tokenizer_config.json) loading, encoding and
// decoding. Supports the BPE model in its two common forms:
//   - byte-level BPE (GPT-2, Llama-3, Qwen2/Qwen3, SmolLM): regex pre-tokenizers run through PCRE2,
//     vocab in the bytes-to-unicode alphabet, ByteLevel decoder;
//   - SentencePiece-style BPE (Llama-2, Mistral, TinyLlama): metaspace U+2581 from Prepend/Replace
//     normalizers or the Metaspace pre-tokenizer, byte_fallback to <0xNN>, fuse_unk, unk token.
// Added tokens are matched before the model (lstrip, rstrip, single_word, normalized) and never split.
// Normalizers: NFC, NFD, NFKC, NFKD (utf8proc), Lowercase, Strip, StripAccents, Replace, Prepend,
// Sequence. Pre-tokenizers: Split, ByteLevel, Metaspace, Digits, Whitespace, WhitespaceSplit,
// Punctuation, Sequence. Post-processors: TemplateProcessing, RobertaProcessing, BertProcessing,
// ByteLevel, Sequence. Decoders: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence.
//
// Deliberate differences from the Python library, all documented here:
//   - decode never applies clean_up_tokenization_spaces, so decode(encode(x)) gives x back exactly;
//   - invalid UTF-8 in the input text is replaced by U+FFFD (one per maximal invalid subpart)
//     before encoding, as Python's bytes.decode(errors="replace") does;
//   - BPE dropout is ignored (encoding is deterministic);
//   - Lowercase maps character by character (as the Rust library does), no final-sigma rule.
//
// A loaded Tokenizer is read-only: any number of threads may encode/decode with it at once.
#ifndef SLIMSCOPE_TOKENIZER_H
#define SLIMSCOPE_TOKENIZER_H

#include <stddef.h>

#include "common.h"

typedef struct TokenizerImpl TokenizerImpl;

typedef struct {
    int vocab_size; // 1 + the largest id of the model vocab and the added tokens
    int bos_id;     // tokenizer_config bos_token, else the template's leading special token, else -1
    int eos_id;     // tokenizer_config eos_token, else the template's trailing special token, else -1
    int pad_id;     // tokenizer_config pad_token, else -1
    int unk_id;     // model.unk_token, else -1
    int byte_level; // 1 when the model works on the bytes-to-unicode alphabet (GPT-2 style)
    TokenizerImpl* impl;
} Tokenizer;

// Loads dir/tokenizer.json and, when present, dir/tokenizer_config.json.
int tokenizer_load(Tokenizer* t, const char* dir, Err* err);
// Same with explicit paths; config_path may be NULL.
int tokenizer_load_files(Tokenizer* t, const char* json_path, const char* config_path, Err* err);
// Same from memory (config_json may be NULL); `name` is used in error messages.
int tokenizer_load_json(Tokenizer* t, const char* json, size_t len, const char* config_json,
                        const char* name, Err* err);
void tokenizer_free(Tokenizer* t);

// Encodes len bytes of text. add_special adds what the post-processor (and add_bos_token /
// add_eos_token of tokenizer_config.json) put around a single sequence; special tokens written
// inside the text are always recognised, as in transformers. *ids is malloc'd (free it), *n its count.
int tokenizer_encode(const Tokenizer* t, const char* text, size_t len, int add_special, int** ids,
                     int* n, Err* err);

// Calls fn for every pre-token of text: what the BPE model would see after added tokens are cut
// out and the normalizer and pre-tokenizer ran (byte-level pieces as raw bytes). Used by BPE
// training so that training and encoding split text the same way.
int tokenizer_pre_tokenize(const Tokenizer* t, const char* text, size_t len,
                           void (*fn)(void* ctx, const char* piece, size_t n), void* ctx, Err* err);

// Decodes ids to a malloc'd NUL-terminated UTF-8 string (never NULL). Ids out of range decode to
// nothing. skip_special drops special tokens (added tokens marked special and the config's
// additional_special_tokens).
char* tokenizer_decode(const Tokenizer* t, const int* ids, int n, int skip_special);

// The token's string as written in tokenizer.json ("Ġthe", "▁the", "<0x0A>", "<|endoftext|>"),
// or NULL for an id that names no token.
const char* tokenizer_piece(const Tokenizer* t, int id);
// The bytes a byte-level piece stands for (GPT-2's bytes-to-unicode alphabet read backwards), at
// most cap of them; -1 when the tokenizer is not byte-level or the piece has other characters.
int tokenizer_piece_bytes(const Tokenizer* t, int id, char* out, size_t cap);
// The id of a token given its tokenizer.json string, or -1.
int tokenizer_token_to_id(const Tokenizer* t, const char* piece);
int tokenizer_vocab_size(const Tokenizer* t);
int tokenizer_is_special(const Tokenizer* t, int id);

// Streaming decoder for generation: push one id at a time and get back only complete UTF-8
// characters; the concatenation of every push and the final flush equals tokenizer_decode of the
// whole sequence.
typedef struct {
    const Tokenizer* t;
    int skip_special;
    int n_tokens;             // tokens pushed so far (the join-with-space decoder needs it)
    unsigned char pend[4];    // bytes of an incomplete UTF-8 character
    int npend, need;          // bytes held, bytes the character needs in total
    unsigned char lo, hi;     // allowed range of the next continuation byte
    int strip_start;          // leading strip characters still to drop (-1: done)
    int held;                 // trailing strip characters held back (Strip decoder with stop > 0)
    char* out;                // output of the last push/flush (owned)
    size_t out_len, out_cap;
} TokenStream;

void token_stream_init(TokenStream* s, const Tokenizer* t, int skip_special);
// Returns the text completed by this token (NUL-terminated, valid until the next call).
const char* token_stream_push(TokenStream* s, int id, size_t* len);
// Ends the stream: incomplete bytes become U+FFFD. The stream may be reused after a flush.
const char* token_stream_flush(TokenStream* s, size_t* len);
void token_stream_free(TokenStream* s);

#endif
