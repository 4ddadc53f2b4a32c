#!/usr/bin/env python3
"""Writes a llama.cpp GGUF file from a slimscope/HF Llama checkpoint (config.json + one
model.safetensors), for speed comparisons against llama.cpp on the same weights.

    python3 tools/compare/st2gguf.py MODEL_DIR OUT.gguf

Standard library only. Matrices keep their dtype (F32/BF16/F16); 1-D norm weights become F32 (what
llama.cpp's CPU ops expect). q_proj/k_proj rows are reordered from Hugging Face's rotate_half layout
to GGML's interleaved RoPE pairs, as llama.cpp's own converter does, so the forward is the same
model. The vocabulary is a placeholder (ids only: <unk>, <s>, </s>, 256 byte tokens, then t<N>):
enough for llama-bench, not for text.
"""
import json, struct, sys

GGUF_ALIGN = 32
T_UINT32, T_INT32, T_FLOAT32, T_STRING, T_ARRAY = 4, 5, 6, 8, 9
GGML = {"F32": 0, "F16": 1, "BF16": 30}
FILE_TYPE = {"F32": 0, "F16": 1, "BF16": 32}  # llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_BF16


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, typ, val):
    out = gstr(key) + struct.pack("<I", typ)
    if typ == T_STRING:
        return out + gstr(val)
    if typ == T_ARRAY:
        et, items = val
        out += struct.pack("<IQ", et, len(items))
        if et == T_STRING:
            return out + b"".join(gstr(x) for x in items)
        fmt = {T_FLOAT32: "<f", T_INT32: "<i"}[et]
        return out + b"".join(struct.pack(fmt, x) for x in items)
    return out + struct.pack({T_UINT32: "<I", T_FLOAT32: "<f"}[typ], val)


def bf16_to_f32(raw):
    # each bf16 is the high half of an f32
    out = bytearray(len(raw) * 2)
    out[2::4], out[3::4] = raw[0::2], raw[1::2]
    return bytes(out)


def f16_to_f32(raw):
    n = len(raw) // 2
    return struct.pack("<%df" % n, *struct.unpack("<%de" % n, raw))


def rope_rows(raw, rows, n_head):
    """Row order for GGML RoPE: pair (i, i + hd/2) of each head becomes rows (2i, 2i+1)."""
    hd = rows // n_head
    width = len(raw) // rows
    out = []
    for h in range(n_head):
        for i in range(hd // 2):
            for j in range(2):
                r = h * hd + j * (hd // 2) + i
                out.append(raw[r * width:(r + 1) * width])
    return b"".join(out)


def main(model_dir, out_path):
    cfg = json.load(open(model_dir + "/config.json"))
    f = open(model_dir + "/model.safetensors", "rb")
    hlen = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(hlen))
    base = 8 + hlen
    dim, n_head = cfg["hidden_size"], cfg["num_attention_heads"]
    n_kv = cfg.get("num_key_value_heads", n_head)
    head_dim = cfg.get("head_dim", dim // n_head)
    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
             "lm_head.weight": "output.weight"}
    per_layer = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                 "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
                 "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for l in range(cfg["num_hidden_layers"]):
        for hf, gg in per_layer.items():
            names["model.layers.%d.%s.weight" % (l, hf)] = "blk.%d.%s.weight" % (l, gg)
    tensors = [(n, header[n]) for n in names if n in header]
    mat_dtype = header["model.embed_tokens.weight"]["dtype"]

    vocab = cfg["vocab_size"]
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    tokens += ["t%d" % i for i in range(len(tokens), vocab)]
    types = [2, 3, 3] + [6] * 256 + [1] * (vocab - 259)  # unknown, control, byte, normal
    meta = [
        kv("general.architecture", T_STRING, "llama"),
        kv("general.name", T_STRING, model_dir.rstrip("/").split("/")[-1]),
        kv("general.alignment", T_UINT32, GGUF_ALIGN),
        kv("general.file_type", T_UINT32, FILE_TYPE[mat_dtype]),
        kv("llama.context_length", T_UINT32, cfg.get("max_position_embeddings", 2048)),
        kv("llama.embedding_length", T_UINT32, dim),
        kv("llama.block_count", T_UINT32, cfg["num_hidden_layers"]),
        kv("llama.feed_forward_length", T_UINT32, cfg["intermediate_size"]),
        kv("llama.attention.head_count", T_UINT32, n_head),
        kv("llama.attention.head_count_kv", T_UINT32, n_kv),
        kv("llama.rope.dimension_count", T_UINT32, head_dim),
        kv("llama.rope.freq_base", T_FLOAT32, float(cfg.get("rope_theta", 10000.0))),
        kv("llama.attention.layer_norm_rms_epsilon", T_FLOAT32, float(cfg.get("rms_norm_eps", 1e-5))),
        kv("llama.vocab_size", T_UINT32, vocab),
        kv("tokenizer.ggml.model", T_STRING, "llama"),
        kv("tokenizer.ggml.tokens", T_ARRAY, (T_STRING, tokens)),
        kv("tokenizer.ggml.scores", T_ARRAY, (T_FLOAT32, [0.0] * vocab)),
        kv("tokenizer.ggml.token_type", T_ARRAY, (T_INT32, types)),
        kv("tokenizer.ggml.bos_token_id", T_UINT32, 1),
        kv("tokenizer.ggml.eos_token_id", T_UINT32, 2),
    ]
    # tensor infos (data offsets relative to the aligned data section)
    infos, plan, off = [], [], 0
    for hf, t in tensors:
        shape, dt = t["shape"], t["dtype"]
        as_f32 = len(shape) == 1 and dt != "F32"
        gdt = "F32" if as_f32 else dt
        nbytes = 1
        for s in shape:
            nbytes *= s
        nbytes *= 4 if gdt == "F32" else 2
        infos.append(gstr(names[hf]) + struct.pack("<I", len(shape)) +
                     b"".join(struct.pack("<Q", s) for s in reversed(shape)) +
                     struct.pack("<IQ", GGML[gdt], off))
        plan.append((hf, t, as_f32, off))
        off += (nbytes + GGUF_ALIGN - 1) // GGUF_ALIGN * GGUF_ALIGN
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as o:
        o.write(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
        for m in meta:
            o.write(m)
        for i in infos:
            o.write(i)
        o.write(b"\0" * (-o.tell() % GGUF_ALIGN))
        data0 = o.tell()
        for hf, t, as_f32, toff in plan:
            a, b = t["data_offsets"]
            f.seek(base + a)
            raw = f.read(b - a)
            if as_f32:
                raw = bf16_to_f32(raw) if t["dtype"] == "BF16" else f16_to_f32(raw)
            if hf.endswith("q_proj.weight"):
                raw = rope_rows(raw, t["shape"][0], n_head)
            elif hf.endswith("k_proj.weight"):
                raw = rope_rows(raw, t["shape"][0], n_kv)
            o.seek(data0 + toff)
            o.write(raw)
        o.write(b"\0" * (-o.tell() % GGUF_ALIGN))
    import os
    os.replace(tmp, out_path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
