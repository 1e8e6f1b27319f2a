#!/usr/bin/env python3
"""Parity references for libssl's text models (BERT, ELECTRA, GPT-2) against Hugging Face.

Usage: python3 make_text_references.py --out DIR

For each case <c> it writes DIR/<c>.weights.safetensors (state dict, HF names, float32) and
DIR/<c>.io.safetensors (inputs, outputs, loss, and "grad.<hf name>" for every parameter).
Randomly initialised models (no download), every parameter perturbed so that biases and
LayerNorms are not at their trivial init, eager attention, eval mode (dropout off), float32,
1 thread, torch.manual_seed(0) per case.

Cases (vocab 50, hidden 32, 2 layers, 4 heads, MLP 64, 16 positions; specials: [PAD]=0,
[UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4):
  bert_mlm        BertForMaskedLM on sentence pairs with right padding, MLM labels (-100 elsewhere)
  bert_pretrain   BertForPreTraining: MLM + next-sentence labels
  electra_gen     ElectraForMaskedLM, embedding_size 16 (projected to 32)
  electra_disc    ElectraForPreTraining, embedding_size 16: replaced-token labels, padding masked
  gpt2            GPT2LMHeadModel, labels = input_ids (shifted inside), no padding
"""
import argparse
import os
import sys

import torch

torch.set_num_threads(1)
import transformers as T  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

V, D, L, H, F, P = 50, 32, 2, 4, 64, 16
PAD, UNK, CLS, SEP, MASK = 0, 1, 2, 3, 4


def dump(out, case, model, io):
    sd = {k: v.detach().float().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(out, f"{case}.weights.safetensors"))
    for k, v in model.state_dict(keep_vars=True).items():  # tied names share one Parameter
        if isinstance(v, torch.nn.Parameter) and v.grad is not None:
            io["grad." + k] = v.grad
    io = {k: v.detach().contiguous().clone() for k, v in io.items()}
    save_file(io, os.path.join(out, f"{case}.io.safetensors"))


def perturb_(model):
    seen = set()
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if "LayerNorm.weight" in name or name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or \
                name.endswith("ln_f.weight"):
            p.data.copy_(1.0 + 0.1 * torch.randn_like(p))
        elif name.endswith("bias"):
            p.data.copy_(0.05 * torch.randn_like(p))
        else:
            p.data.add_(0.03 * torch.randn_like(p))


def pairs(batch=3, n=P):
    """[CLS] a [SEP] b [SEP] [PAD]... with different lengths per row."""
    ids = torch.full((batch, n), PAD, dtype=torch.long)
    lengths = [(5, 6), (4, 3), (6, 7)]
    for r in range(batch):
        la, lb = lengths[r % len(lengths)]
        a = torch.randint(5, V, (la,))
        b = torch.randint(5, V, (lb,))
        row = torch.cat([torch.tensor([CLS]), a, torch.tensor([SEP]), b, torch.tensor([SEP])])[:n]
        ids[r, : row.numel()] = row
    return ids


def token_types(ids):
    is_sep = (ids == SEP).long()
    before = is_sep.cumsum(1) - is_sep
    return ((before >= 1) & (ids != PAD)).long()


def mlm_corrupt(ids):
    """Selects ~30 % of the real tokens (more than 15 % so that every row has some), 80/10/10."""
    special = (ids == PAD) | (ids == CLS) | (ids == SEP)
    sel = (torch.rand(ids.shape) < 0.3) & ~special
    sel[:, 1] = True  # at least one per row
    labels = torch.where(sel, ids, torch.full_like(ids, -100))
    u = torch.rand(ids.shape)
    inp = ids.clone()
    inp[sel & (u < 0.8)] = MASK
    rnd = sel & (u >= 0.8) & (u < 0.9)
    inp[rnd] = torch.randint(5, V, (int(rnd.sum()),))
    return inp, labels


def bert_config():
    return T.BertConfig(vocab_size=V, hidden_size=D, num_hidden_layers=L, num_attention_heads=H,
                        intermediate_size=F, max_position_embeddings=P, type_vocab_size=2, pad_token_id=PAD,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation="eager")


def make_bert(out, case, pretrain):
    torch.manual_seed(0)
    cfg = bert_config()
    model = (T.BertForPreTraining if pretrain else T.BertForMaskedLM)(cfg).eval()
    perturb_(model)
    ids = pairs()
    inp, labels = mlm_corrupt(ids)
    att = (ids != PAD).long()
    tt = token_types(ids)
    kw = dict(input_ids=inp, attention_mask=att, token_type_ids=tt, labels=labels)
    io = {"input_ids": inp, "labels": labels, "attention_mask": att, "token_type_ids": tt}
    if pretrain:
        nsp = torch.tensor([0, 1, 1])
        o = model(**kw, next_sentence_label=nsp)
        io.update(next_sentence_label=nsp, logits=o.prediction_logits, nsp_logits=o.seq_relationship_logits)
    else:
        o = model(**kw)
        io.update(logits=o.logits)
    hidden = (model.bert(input_ids=inp, attention_mask=att, token_type_ids=tt))
    io["last_hidden_state"] = hidden.last_hidden_state
    if hidden.pooler_output is not None:
        io["pooler_output"] = hidden.pooler_output
    o.loss.backward()
    io["loss"] = o.loss.reshape(1)
    dump(out, case, model, io)


def electra_config():
    return T.ElectraConfig(vocab_size=V, embedding_size=16, hidden_size=D, num_hidden_layers=L, num_attention_heads=H,
                           intermediate_size=F, max_position_embeddings=P, type_vocab_size=2, pad_token_id=PAD,
                           hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, attn_implementation="eager")


def make_electra_gen(out):
    torch.manual_seed(0)
    model = T.ElectraForMaskedLM(electra_config()).eval()
    perturb_(model)
    ids = pairs()
    inp, labels = mlm_corrupt(ids)
    att, tt = (ids != PAD).long(), token_types(ids)
    o = model(input_ids=inp, attention_mask=att, token_type_ids=tt, labels=labels)
    o.loss.backward()
    dump(out, "electra_gen", model, {"input_ids": inp, "labels": labels, "logits": o.logits, "loss": o.loss.reshape(1)})


def make_electra_disc(out):
    torch.manual_seed(0)
    model = T.ElectraForPreTraining(electra_config()).eval()
    perturb_(model)
    ids = pairs()
    corrupted = ids.clone()
    real = (ids != PAD) & (ids != CLS) & (ids != SEP)
    swap = real & (torch.rand(ids.shape) < 0.3)
    corrupted[swap] = torch.randint(5, V, (int(swap.sum()),))
    labels = (corrupted != ids).long()
    att, tt = (ids != PAD).long(), token_types(ids)
    o = model(input_ids=corrupted, attention_mask=att, token_type_ids=tt, labels=labels)
    o.loss.backward()
    dump(out, "electra_disc", model, {"original_ids": ids, "input_ids": corrupted, "labels": labels,
                                      "logits": o.logits, "loss": o.loss.reshape(1)})


def make_gpt2(out):
    torch.manual_seed(0)
    cfg = T.GPT2Config(vocab_size=V, n_embd=D, n_layer=L, n_head=H, n_inner=F, n_positions=P, resid_pdrop=0.0,
                       embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=CLS, eos_token_id=SEP,
                       attn_implementation="eager")
    model = T.GPT2LMHeadModel(cfg).eval()
    perturb_(model)
    ids = torch.randint(5, V, (3, P))
    o = model(input_ids=ids, labels=ids)
    o.loss.backward()
    dump(out, "gpt2", model, {"input_ids": ids, "logits": o.logits, "loss": o.loss.reshape(1)})


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    make_bert(a.out, "bert_mlm", pretrain=False)
    make_bert(a.out, "bert_pretrain", pretrain=True)
    make_electra_gen(a.out)
    make_electra_disc(a.out)
    make_gpt2(a.out)
    print("text references written to", a.out, "with transformers", T.__version__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
