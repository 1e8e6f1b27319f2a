#!/usr/bin/env python3
"""Generate ViT / ViT-MAE parity references for the libssl C++ tests.

Usage: python3 make_vit_references.py --out DIR

For each case <c> it writes
  DIR/<c>.weights.safetensors  model.state_dict() (HF names, contiguous float32)
  DIR/<c>.io.safetensors       inputs / outputs / grads ("grad.<hf name>")
  DIR/<c>.config.json          config.to_dict()

Cases: vitmae_normpix, vitmae_plain (ViTMAEForPreTraining), vit (ViTModel,
add_pooling_layer=False). Deterministic: torch.manual_seed(0) at the start of
every case, float32, 1 CPU thread, eager attention, model.eval() (all dropout
probabilities are 0 anyway, so nothing in the forward pass consumes RNG).

Weights: HF's fresh init gives zero biases, unit LayerNorm weights, and (in
transformers 5.24, see below) zero cls/mask tokens. To make the parity test
sensitive to every parameter, each trainable parameter gets a deterministic
perturbation after construction (see perturb_()). The frozen ViT-MAE sin-cos
tables are (re)written explicitly with the canonical MAE layout, because
transformers 5.24's fresh init leaves BOTH of them all-zero:
  * ViTMAEEmbeddings.initialize_weights() returns early when
    patch_embeddings.projection._is_hf_initialized is set, which it always is
    (smart_apply initialises children first), so position_embeddings (and
    cls_token) stay zero;
  * ViTMAEPreTrainedModel._init_weights() zeros decoder.decoder_pos_embed and
    decoder.mask_token after ViTMAEDecoder.__init__ had filled them.
The script asserts the tables it writes match an independent re-implementation
of facebookresearch/mae get_2d_sincos_pos_embed.

State-dict keys found with transformers 5.24.0 (L = layer index 0..1):

vitmae_* (ViTMAEForPreTraining), 78 tensors:
  vit.embeddings.cls_token                                  [1,1,32]
  vit.embeddings.position_embeddings                        [1,17,32]  frozen sin-cos
  vit.embeddings.patch_embeddings.projection.weight         [32,3,4,4]
  vit.embeddings.patch_embeddings.projection.bias           [32]
  vit.layers.L.attention.{q,k,v,o}_proj.{weight,bias}       [32,32] / [32]
  vit.layers.L.layernorm_before.{weight,bias}               [32]
  vit.layers.L.layernorm_after.{weight,bias}                [32]
  vit.layers.L.mlp.fc1.{weight,bias}                        [64,32] / [64]
  vit.layers.L.mlp.fc2.{weight,bias}                        [32,64] / [32]
  vit.layernorm.{weight,bias}                               [32]
  decoder.mask_token                                        [1,1,24]
  decoder.decoder_pos_embed                                 [1,17,24]  frozen sin-cos
  decoder.decoder_embed.{weight,bias}                       [24,32] / [24]
  decoder.decoder_layers.L.attention.{q,k,v,o}_proj.{weight,bias}  [24,24] / [24]
  decoder.decoder_layers.L.layernorm_before.{weight,bias}   [24]
  decoder.decoder_layers.L.layernorm_after.{weight,bias}    [24]
  decoder.decoder_layers.L.mlp.fc1.{weight,bias}            [48,24] / [48]
  decoder.decoder_layers.L.mlp.fc2.{weight,bias}            [24,48] / [24]
  decoder.decoder_norm.{weight,bias}                        [24]
  decoder.decoder_pred.{weight,bias}                        [48,24] / [48]

vit (ViTModel, add_pooling_layer=False), 38 tensors:
  embeddings.cls_token [1,1,32]; embeddings.position_embeddings [1,17,32] (trainable)
  embeddings.patch_embeddings.projection.{weight,bias} [32,3,4,4] / [32]
  layers.L.attention.{q,k,v,o}_proj.{weight,bias}; layers.L.layernorm_{before,after}.{weight,bias}
  layers.L.mlp.fc{1,2}.{weight,bias}; layernorm.{weight,bias}
"""
import argparse
import json
import os
import sys

import torch

torch.set_num_threads(1)

from safetensors.torch import save_file  # noqa: E402
import transformers  # noqa: E402
from transformers import ViTConfig, ViTMAEConfig, ViTMAEForPreTraining, ViTModel  # noqa: E402

import transformers.models.vit_mae.modeling_vit_mae as mae_mod  # noqa: E402


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float32).contiguous().clone()


def _state_dict_f32(model) -> dict:
    return {k: _f32(v) for k, v in model.state_dict().items()}


# Single metadata key: safetensors writes metadata from a hash map, so several keys
# would make the header byte order (and thus the file bytes) vary between runs.
_META = {"generator": f"make_vit_references.py transformers={transformers.__version__} torch={torch.__version__}"}


def _dump(out_dir, case, model, config, io):
    save_file(_state_dict_f32(model), os.path.join(out_dir, f"{case}.weights.safetensors"),
              metadata=_META)
    io_clean = {}
    for k, v in io.items():
        v = v.detach()
        if v.is_floating_point():
            v = v.to(torch.float32)
        io_clean[k] = v.contiguous().clone()
    save_file(io_clean, os.path.join(out_dir, f"{case}.io.safetensors"),
              metadata=_META)
    with open(os.path.join(out_dir, f"{case}.config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2, sort_keys=True, default=str)


@torch.no_grad()
def perturb_(model):
    """Deterministic perturbation of every trainable parameter (RNG order = named_parameters order)."""
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name.endswith("layernorm_before.weight") or name.endswith("layernorm_after.weight") or \
                name.endswith("layernorm.weight") or name.endswith("decoder_norm.weight"):
            p.copy_(1.0 + 0.1 * torch.randn_like(p))
        elif name.endswith(".bias"):
            p.copy_(0.05 * torch.randn_like(p))
        elif name.endswith("cls_token") or name.endswith("mask_token") or name.endswith("position_embeddings"):
            p.copy_(0.1 * torch.randn_like(p))
        else:  # matrices / conv kernels: keep HF's normal(0, 0.02) draw, add a bit more spread
            p.add_(0.03 * torch.randn_like(p))


def mae_reference_sincos(embed_dim: int, grid: int) -> torch.Tensor:
    """Independent re-implementation of facebookresearch/mae util/pos_embed.py (float64).

    Row r (patch p = r-1, h = p // grid, w = p % grid; row 0 = cls = zeros) is
    [sin(w*om) | cos(w*om) | sin(h*om) | cos(h*om)], om_k = 10000^(-k/(D/4)), k < D/4.
    """
    q = embed_dim // 4
    om = torch.tensor([10000.0 ** (-k / q) for k in range(q)], dtype=torch.float64)
    rows = [torch.zeros(embed_dim, dtype=torch.float64)]
    for p in range(grid * grid):
        h, w = divmod(p, grid)
        rows.append(torch.cat([torch.sin(w * om), torch.cos(w * om), torch.sin(h * om), torch.cos(h * om)]))
    return torch.stack(rows).to(torch.float32).unsqueeze(0)


def hf_canonical_sincos(embed_dim: int, grid: int) -> torch.Tensor:
    """What HF's initialize_weights() intends to write (build_2d_sinusoidal_position_embedding + half swap)."""
    pe = mae_mod.build_2d_sinusoidal_position_embedding(height=grid, width=grid, embed_dim=embed_dim, cls_token=True)
    half = pe.shape[-1] // 2
    pe = torch.cat([pe[..., half:], pe[..., :half]], dim=-1)
    return pe.unsqueeze(0).to(torch.float32)


def make_vitmae(out_dir: str, case: str, norm_pix_loss: bool) -> None:
    torch.manual_seed(0)
    config = ViTMAEConfig(
        image_size=16, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, decoder_hidden_size=24, decoder_num_hidden_layers=2,
        decoder_num_attention_heads=4, decoder_intermediate_size=48, mask_ratio=0.75,
        norm_pix_loss=norm_pix_loss, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        qkv_bias=True, attn_implementation="eager",
    )
    model = ViTMAEForPreTraining(config).to(torch.float32)
    assert model.config._attn_implementation == "eager", model.config._attn_implementation
    perturb_(model)

    grid = config.image_size // config.patch_size
    pe = hf_canonical_sincos(config.hidden_size, grid)
    dpe = hf_canonical_sincos(config.decoder_hidden_size, grid)
    torch.testing.assert_close(pe, mae_reference_sincos(config.hidden_size, grid), rtol=0, atol=1e-6)
    torch.testing.assert_close(dpe, mae_reference_sincos(config.decoder_hidden_size, grid), rtol=0, atol=1e-6)
    with torch.no_grad():
        model.vit.embeddings.position_embeddings.copy_(pe)
        model.decoder.decoder_pos_embed.copy_(dpe)
    model.eval()  # dropout probs are 0; eval() guarantees no RNG use in forward

    pixel_values = torch.randn(3, 3, 16, 16)
    noise = torch.rand(3, 16)

    captured = {}
    hook = model.decoder.register_forward_pre_hook(
        lambda mod, args, kwargs: captured.__setitem__("latent", (args[0] if args else kwargs["hidden_states"]).detach().clone()),
        with_kwargs=True)
    model.zero_grad(set_to_none=True)
    out = model(pixel_values=pixel_values, noise=noise)
    hook.remove()
    out.loss.backward()

    # Encoder output computed separately; must equal the latent fed to the decoder
    # (ViTMAEModel.last_hidden_state = vit.layernorm(...) output, incl. cls at index 0).
    with torch.no_grad():
        enc = model.vit(pixel_values, noise=noise)
    torch.testing.assert_close(enc.last_hidden_state, captured["latent"], rtol=0, atol=0)
    torch.testing.assert_close(enc.mask, out.mask, rtol=0, atol=0)
    assert torch.equal(enc.ids_restore, out.ids_restore)

    len_keep = int(16 * (1 - config.mask_ratio))
    assert enc.last_hidden_state.shape == (3, 1 + len_keep, 32)

    io = {
        "pixel_values": pixel_values,
        "noise": noise,
        "loss": out.loss.reshape(1),
        "logits": out.logits,
        "mask": out.mask.to(torch.float32),
        "ids_restore": out.ids_restore.to(torch.int64),
        "encoder_last_hidden_state": enc.last_hidden_state,
        "patchified_pixel_values": model.patchify(pixel_values),
        "position_embeddings": pe,
        "decoder_pos_embed": dpe,
    }
    for name, p in model.named_parameters():
        if p.grad is not None:
            io[f"grad.{name}"] = p.grad
    _dump(out_dir, case, model, config, io)


def make_vit(out_dir: str) -> None:
    torch.manual_seed(0)
    config = ViTConfig(
        image_size=16, patch_size=4, num_channels=3, hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0, qkv_bias=True, layer_norm_eps=1e-12,
        attn_implementation="eager",
    )
    model = ViTModel(config, add_pooling_layer=False).to(torch.float32)
    assert model.config._attn_implementation == "eager", model.config._attn_implementation
    perturb_(model)
    model.eval()

    pixel_values = torch.randn(3, 3, 16, 16).requires_grad_(True)
    model.zero_grad(set_to_none=True)
    out = model(pixel_values=pixel_values, output_hidden_states=True)
    lhs = out.last_hidden_state
    # DINO's get_intermediate_layers(x, n): the final layernorm applied to each of the last n
    # blocks' outputs (hidden_states[0] is the embedding, [i] block i's output before the norm).
    with torch.no_grad():
        intermediate = [model.layernorm(h).detach() for h in out.hidden_states[1:]]
    R = torch.randn_like(lhs)
    scalar = (lhs * R).sum()
    scalar.backward()

    io = {
        "pixel_values": pixel_values,
        "R": R,
        "last_hidden_state": lhs,
        "scalar": scalar.reshape(1),
        "grad.pixel_values": pixel_values.grad,
    }
    for i, h in enumerate(intermediate):
        io[f"intermediate.{i}"] = h
    for name, p in model.named_parameters():
        assert p.grad is not None, name
        io[f"grad.{name}"] = p.grad
    _dump(out_dir, "vit", model, config, io)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory (created if missing)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    make_vitmae(args.out, "vitmae_normpix", norm_pix_loss=True)
    make_vitmae(args.out, "vitmae_plain", norm_pix_loss=False)
    make_vit(args.out)
    print(f"wrote references to {args.out} (transformers {transformers.__version__}, torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
