#!/usr/bin/env python3
"""Hugging Face checkpoint directories for libssl's loader and saver (io/hf_checkpoint.hpp).

Usage: python3 make_hf_references.py --out DIR

For each case <c> it writes DIR/hf/<c>/ with `save_pretrained` (config.json + model.safetensors,
or the sharded model.safetensors.index.json) and DIR/hf/<c>.io.safetensors: the inputs and the
model's outputs (`logits`, and `hidden` = last_hidden_state), float32. Randomly initialised tiny
models (no download), every trainable parameter perturbed so that no LayerNorm or bias sits at its
trivial init, eval mode, 1 thread, torch.manual_seed(0).

Cases (hidden 32, 2 layers, 4 heads, MLP 64, vocab 100):
  bert          BertForMaskedLM, 2 rows, the second right-padded (attention_mask)
  bert_model    BertModel (head-less, with its pooler; names without the bert. prefix), padded as
                bert: `logits` = `hidden` = last_hidden_state, `pooled` = pooler_output; with
                lab_bert's vocab.txt + tokenizer_config.json (example 04's input)
  roberta       RobertaForMaskedLM (pad 1, positions from pad+1, one token type), padded as bert
  electra_gen   ElectraForMaskedLM, embedding_size 16 (projected to 32)
  electra_disc  ElectraForPreTraining, embedding_size 16 (with lab_bert's vocab.txt: example 04's input)
  gpt2          GPT2LMHeadModel (tied lm_head), no padding
  vit           ViTModel without pooler (16x16x3 images, patch 4): last_hidden_state
  vit_mae       ViTMAEForPreTraining, decoder 16 wide, 1 layer, mask ratio 0.5, with the noise given
  bert_sharded  bert's model saved in shards of <= 20 KB (>= 2 files + index)
  bert_fp16     bert's model saved in float16; the references are its float16 weights in float32
  lab_bert      BertForMaskedLM with a WordPiece vocabulary of fortune words in vocab.txt +
                tokenizer_config.json (no tokenizer.json), layer_norm_eps 1e-7: example 03's
                input, and examples 02 (--init) and 04's (no .io file)
  lab_roberta   RobertaForMaskedLM with a byte-level BPE (256 bytes + merges), saved with
                RobertaTokenizerFast (tokenizer.json, vocab.json, merges.txt): example 03's input
  lab_gpt2      GPT2LMHeadModel with a byte-level BPE (256 bytes + merges, <|endoftext|> as bos, eos
                and separator, no pad), saved with GPT2TokenizerFast, 48 positions, layer_norm_epsilon
                1e-6: example 02's input (--method gpt --init)
"""
import os
import shutil
import sys

import torch

torch.set_num_threads(1)
import transformers as T  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import refs_file  # noqa: E402

V, D, L, H, F = 100, 32, 2, 4, 64
TEXT = dict(vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=H, intermediate_size=F,
            max_position_embeddings=40)


def perturb_(model):
    seen = set()
    for name, p in model.named_parameters():
        if id(p) in seen or not p.requires_grad:
            continue
        seen.add(id(p))
        if name.endswith("weight") and p.dim() == 1:  # LayerNorm scales
            p.data.copy_(1.0 + 0.1 * torch.randn_like(p))
        elif name.endswith("bias"):
            p.data.copy_(0.05 * torch.randn_like(p))
        else:
            p.data.add_(0.03 * torch.randn_like(p))
    return model.eval()


def text_inputs(pad, padded=True, n=12):
    ids = torch.randint(5, V, (2, n))
    mask = torch.ones(2, n, dtype=torch.int64)
    if padded:
        ids[1, n - 3:] = pad
        mask[1, n - 3:] = 0
    return ids, mask


def save_case(out, case, model, io, **kw):
    d = os.path.join(out, "hf", case)
    model.save_pretrained(d, **kw)
    refs_file.save(io, os.path.join(out, "hf"), f"{case}.io.safetensors", {"case": case})
    return d


def text_case(out, case, model, pad, padded=True, **kw):
    ids, mask = text_inputs(pad, padded)
    with torch.no_grad():
        o = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    logits = o.logits
    io = {"input_ids": ids, "attention_mask": mask, "logits": logits.float(), "hidden": o.hidden_states[-1].float()}
    return save_case(out, case, model, io, **kw)


def make(out):
    for stale in ("hf", "hf_saved"):  # hf_saved: what libssl writes from these (hf_parity)
        shutil.rmtree(os.path.join(out, stale), ignore_errors=True)
    os.makedirs(os.path.join(out, "hf"), exist_ok=True)
    torch.manual_seed(0)
    n = 0
    bert = perturb_(T.BertForMaskedLM(T.BertConfig(**TEXT, pad_token_id=0)))
    text_case(out, "bert", bert, 0); n += 1
    text_case(out, "bert_sharded", bert, 0, max_shard_size="20KB"); n += 1
    shards = [f for f in os.listdir(os.path.join(out, "hf", "bert_sharded")) if f.endswith(".safetensors")]
    assert len(shards) >= 2, f"bert_sharded: expected >= 2 shards, got {shards}"
    half = perturb_(T.BertForMaskedLM(T.BertConfig(**TEXT, pad_token_id=0))).half().float()  # fp16-exact weights
    d = text_case(out, "bert_fp16", half, 0)
    half.half().save_pretrained(d)  # the same values, stored as float16
    n += 1
    rob = T.RobertaConfig(**{**TEXT, "max_position_embeddings": 42}, type_vocab_size=1, pad_token_id=1,
                          bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
    text_case(out, "roberta", perturb_(T.RobertaForMaskedLM(rob)), 1); n += 1
    el = dict(**TEXT, embedding_size=16, pad_token_id=0)
    text_case(out, "electra_gen", perturb_(T.ElectraForMaskedLM(T.ElectraConfig(**el))), 0); n += 1
    text_case(out, "electra_disc", perturb_(T.ElectraForPreTraining(T.ElectraConfig(**el))), 0); n += 1
    g = T.GPT2Config(vocab_size=V, n_embd=D, n_layer=L, n_head=H, n_inner=F, n_positions=40, bos_token_id=0,
                     eos_token_id=0)
    text_case(out, "gpt2", perturb_(T.GPT2LMHeadModel(g)), 0, padded=False); n += 1

    vc = dict(image_size=16, patch_size=4, num_channels=3, hidden_size=D, num_hidden_layers=L, num_attention_heads=H,
              intermediate_size=F)
    vit = perturb_(T.ViTModel(T.ViTConfig(**vc), add_pooling_layer=False))
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        h = vit(pixel_values=x).last_hidden_state
    save_case(out, "vit", vit, {"pixel_values": x, "logits": h, "hidden": h}); n += 1
    mae = perturb_(T.ViTMAEForPreTraining(T.ViTMAEConfig(**vc, decoder_hidden_size=16, decoder_num_hidden_layers=1,
                                                           decoder_num_attention_heads=2, decoder_intermediate_size=32,
                                                           mask_ratio=0.5)))
    noise = torch.rand(2, 16)
    with torch.no_grad():
        o = mae(pixel_values=x, noise=noise)
    save_case(out, "vit_mae", mae, {"pixel_values": x, "noise": noise, "logits": o.logits, "mask": o.mask,
                                    "ids_restore": o.ids_restore}); n += 1
    n += lab_cases(out)
    base = perturb_(T.BertModel(T.BertConfig(**TEXT, pad_token_id=0)))
    ids, mask = text_inputs(0)
    with torch.no_grad():
        o = base(input_ids=ids, attention_mask=mask)
    d = save_case(out, "bert_model", base, {"input_ids": ids, "attention_mask": mask, "logits": o.last_hidden_state,
                                            "hidden": o.last_hidden_state, "pooled": o.pooler_output})
    for case in ("bert_model", "electra_disc"):  # lab_bert's WordPiece vocabulary (100 tokens, as V): example 04's
        for f in ("vocab.txt", "tokenizer_config.json"):
            shutil.copy(os.path.join(out, "hf", "lab_bert", f), os.path.join(out, "hf", case))
    n += 1
    return {"cases": torch.tensor(n)}


def lab_cases(out):
    """Fill-mask models with their tokenizers for example 03 (check_fill_mask.py compares)."""
    import json
    words = ("the cat sat on mat love is capital of france a bird in hand worth two never put off until tomorrow "
             "what you can do crashed and i lost all my files artificial intelligence transforming every industry "
             "self supervised learning uses data for pre training").split()
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "-"] + sorted(set(words)) + ["##s", "##ing", "##ed"]
    vocab += [f"w{i}" for i in range(V - len(vocab))]
    assert len(vocab) == V, len(vocab)
    d = os.path.join(out, "hf", "lab_bert")
    os.makedirs(d, exist_ok=True)
    # The classic files only (vocab.txt + tokenizer_config.json, as bert-base-uncased ships them;
    # transformers' own save would write tokenizer.json instead).
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        f.write('{"tokenizer_class": "BertTokenizer", "do_lower_case": true}\n')
    perturb_(T.BertForMaskedLM(T.BertConfig(**{**TEXT, "max_position_embeddings": 64}, pad_token_id=0,
                                            layer_norm_eps=1e-7))).save_pretrained(d)

    # Byte-level BPE: RoBERTa's specials, the 256 byte symbols, merges that build a few words.
    byte_chars = [chr(c) for c in range(ord("!"), ord("~") + 1)] + [chr(c) for c in range(ord("\u00a1"), ord("\u00ac") + 1)] + \
        [chr(c) for c in range(ord("\u00ae"), ord("\u00ff") + 1)]
    n_extra = 0
    for b in range(256):  # GPT-2's bytes_to_unicode
        if chr(b) not in byte_chars:
            byte_chars.append(chr(256 + n_extra))
            n_extra += 1
    bvocab = {t: i for i, t in enumerate(["<s>", "<pad>", "</s>", "<unk>"])}
    for ch in byte_chars:
        bvocab.setdefault(ch, len(bvocab))
    merges = [("\u0120", "t"), ("h", "e"), ("\u0120t", "he"), ("\u0120", "c"), ("a", "t"), ("\u0120c", "at"),
              ("\u0120", "s"), ("\u0120s", "at"), ("o", "n"), ("\u0120", "on"), ("\u0120", "l"), ("o", "v"),
              ("\u0120l", "ov"), ("\u0120lov", "e"), ("i", "s"), ("\u0120", "is")]
    for a, b in merges:
        bvocab.setdefault(a + b, len(bvocab))
    bvocab["<mask>"] = len(bvocab)

    def bpe_dir(name, cls, vocab):
        """DIR/hf/<name> with tokenizer class `cls` over `vocab` and the merges, saved whole."""
        d = os.path.join(out, "hf", name)
        os.makedirs(d, exist_ok=True)
        cls(vocab=vocab, merges=list(merges)).save_pretrained(d)
        with open(os.path.join(d, "tokenizer.json")) as f:
            saved = json.load(f)
        assert len(saved["model"]["vocab"]) == len(vocab) and len(saved["model"]["merges"]) == len(merges), name
        return d

    d = bpe_dir("lab_roberta", T.RobertaTokenizerFast, bvocab)
    rob = T.RobertaConfig(**{**TEXT, "vocab_size": len(bvocab), "max_position_embeddings": 130}, type_vocab_size=1,
                          pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5)
    perturb_(T.RobertaForMaskedLM(rob)).save_pretrained(d)

    # GPT-2's layout of the same bytes and merges: only <|endoftext|>, after them (as GPT-2's 50256).
    gvocab = {ch: i for i, ch in enumerate(byte_chars)}
    for a, b in merges:
        gvocab.setdefault(a + b, len(gvocab))
    gvocab["<|endoftext|>"] = eot = len(gvocab)
    d = bpe_dir("lab_gpt2", T.GPT2TokenizerFast, gvocab)
    g = T.GPT2Config(vocab_size=len(gvocab), n_embd=D, n_layer=L, n_head=H, n_inner=F, n_positions=48,
                     bos_token_id=eot, eos_token_id=eot, layer_norm_epsilon=1e-6)
    perturb_(T.GPT2LMHeadModel(g)).save_pretrained(d)
    return 3


def main(argv=None) -> int:
    return refs_file.main(make, "hf/", __doc__, f"transformers {T.__version__}, torch {torch.__version__}", argv)


if __name__ == "__main__":
    sys.exit(main())
