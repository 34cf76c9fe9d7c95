"""Exports an example unified multimodal model as TorchScript for reca's
`torchscript` family (bring your own model).

    /usr/bin/python3 tools/export_torchscript.py --out=example_umm.pt [--image_size=32]

then train it like any native family:

    reca-train --model.family=torchscript --model.module=example_umm.pt --steps=200

THE CONTRACT (README "Bring your own model"). A scripted module with:

  attributes   image_size: int        square input/output resolution
               max_text_tokens: int   the longest text segment it accepts
  methods      understanding_embed(images [B,3,H,W] float in [0,1]) -> [B,V,D] float
                   the understanding-side visual tokens, in the LLM's input space
               embed_text(ids [B,L] int64) -> [B,L,D] float
                   token embeddings (ids from reca's tokenizer; 0 = padding)
               noise_shapes() -> Dict[str, List[int]]
                   per-sample shapes of the standard-normal draws the losses
                   and sampling need; reca draws them (from per-sample seeds,
                   so runs are reproducible and resumable) and passes them in
               generation_loss(embeds [B,P,D], valid [B,P] bool, images [B,3,H,W],
                               noise: Dict[str, Tensor]) -> 0-dim float
                   the native generation loss of `images` given the prefix
               i2t_loss(images, pre [B,Lp], post [B,Lq], captions [B,Lc]) -> 0-dim float
                   captioning cross-entropy after [pre, visual, post]
               generate(embeds, valid, uncond_embeds, uncond_valid, noise, cfg: float,
                        steps: int) -> [B,3,H,W] float in [0,1]
  training     parameters with requires_grad=True train; the others are frozen
               (here: the understanding encoder, as decoupled UMMs freeze it)

This example: a frozen patch encoder at half resolution (the bottleneck), a
pre-norm transformer over [prefix, latent patches], rectified-flow loss and
Euler sampling, and a captioning head on the same transformer.
"""

import argparse
from typing import Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    b, g = images.size(0), images.size(2) // patch
    return ((images * 2.0 - 1.0).reshape(b, 3, g, patch, g, patch).permute(0, 2, 4, 1, 3, 5)
            .reshape(b, g * g, 3 * patch * patch))


def unpatchify(tokens: torch.Tensor, patch: int, size: int) -> torch.Tensor:
    b, g = tokens.size(0), size // patch
    x = tokens.reshape(b, g, g, 3, patch, patch).permute(0, 3, 1, 4, 2, 5).reshape(b, 3, size, size)
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


class ExampleUmm(nn.Module):
    image_size: int
    max_text_tokens: int

    def __init__(self, vocab_size: int, image_size: int = 32, patch: int = 4, und_image_size: int = 16,
                 dim: int = 96, depth: int = 2, heads: int = 4, max_text_tokens: int = 40):
        super().__init__()
        self.image_size = image_size
        self.max_text_tokens = max_text_tokens
        self.patch = patch
        self.und_image_size = und_image_size
        token_dim = patch * patch * 3
        self.seq = (image_size // patch) ** 2
        self.token_dim = token_dim
        # Understanding side (frozen).
        self.und_proj = nn.Linear(token_dim, dim)
        self.und_pos = nn.Parameter(torch.randn(1, (und_image_size // patch) ** 2, dim) * 0.02)
        for p in (self.und_proj.weight, self.und_proj.bias, self.und_pos):
            p.requires_grad_(False)
        # Text, generation and captioning (trained).
        self.tok = nn.Embedding(vocab_size, dim)
        self.text_pos = nn.Parameter(torch.randn(1, 4 * max_text_tokens + 512, dim) * 0.02)
        self.x_in = nn.Linear(token_dim, dim)
        self.x_pos = nn.Parameter(torch.randn(1, self.seq, dim) * 0.02)
        self.time = nn.Sequential(nn.Linear(1, dim), nn.SiLU(), nn.Linear(dim, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.x_out = nn.Linear(dim, token_dim)
        self.lm_head = nn.Linear(dim, vocab_size, bias=False)

    @torch.jit.export
    def understanding_embed(self, images: torch.Tensor) -> torch.Tensor:
        view = F.avg_pool2d(images, self.image_size // self.und_image_size)
        return self.und_proj(patchify(view, self.patch)) + self.und_pos

    @torch.jit.export
    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.tok(ids)

    @torch.jit.export
    def noise_shapes(self) -> Dict[str, List[int]]:
        return {"t": [1], "eps": [self.seq, self.token_dim]}

    def _run(self, prefix: torch.Tensor, valid: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        p = prefix.size(1)
        h = torch.cat([prefix + self.text_pos[:, :p], x], 1)
        n = h.size(1)
        # Prefix causal; latents see the valid prefix and each other.
        mask = torch.ones(n, n, dtype=torch.bool, device=h.device).tril()
        mask[p:, p:] = True
        pad = torch.cat([valid.logical_not(), torch.zeros(x.size(0), x.size(1), dtype=torch.bool,
                                                            device=h.device)], 1)
        out = self.blocks(h, mask=mask.logical_not(), src_key_padding_mask=pad)
        return self.norm(out)

    def _velocity(self, embeds: torch.Tensor, valid: torch.Tensor, x_t: torch.Tensor,
                  t: torch.Tensor) -> torch.Tensor:
        x = self.x_in(x_t) + self.x_pos + self.time(t.reshape(-1, 1, 1))
        h = self._run(embeds, valid, x)
        return self.x_out(h[:, embeds.size(1):])

    @torch.jit.export
    def generation_loss(self, embeds: torch.Tensor, valid: torch.Tensor, images: torch.Tensor,
                        noise: Dict[str, torch.Tensor]) -> torch.Tensor:
        x0 = patchify(images, self.patch)
        t = torch.sigmoid(noise["t"]).reshape(-1, 1, 1)
        eps = noise["eps"]
        x_t = (1.0 - t) * x0 + t * eps
        return F.mse_loss(self._velocity(embeds, valid, x_t, t), eps - x0)

    @torch.jit.export
    def i2t_loss(self, images: torch.Tensor, pre: torch.Tensor, post: torch.Tensor,
                 captions: torch.Tensor) -> torch.Tensor:
        visual = self.understanding_embed(images)
        embeds = torch.cat([self.tok(pre), visual, self.tok(post), self.tok(captions)], 1)
        valid = torch.cat([pre.ne(0), torch.ones(visual.size(0), visual.size(1), dtype=torch.bool,
                                                 device=visual.device), post.ne(0), captions.ne(0)], 1)
        n = embeds.size(1)
        causal = torch.ones(n, n, dtype=torch.bool, device=embeds.device).tril()
        h = self.norm(self.blocks(embeds + self.text_pos[:, :n], mask=causal.logical_not(),
                                  src_key_padding_mask=valid.logical_not()))
        lc = captions.size(1)
        logits = self.lm_head(h[:, n - lc - 1:n - 1])
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), captions.reshape(-1), ignore_index=0)

    @torch.jit.export
    def generate(self, embeds: torch.Tensor, valid: torch.Tensor, uncond_embeds: torch.Tensor,
                 uncond_valid: torch.Tensor, noise: Dict[str, torch.Tensor], cfg: float,
                 steps: int) -> torch.Tensor:
        x = noise["eps"]
        b = x.size(0)
        for i in range(steps):
            t = 1.0 - i / steps
            t_next = 1.0 - (i + 1) / steps
            tv = torch.full([b], t, dtype=x.dtype, device=x.device)
            v = self._velocity(embeds, valid, x, tv)
            if cfg != 1.0:
                vu = self._velocity(uncond_embeds, uncond_valid, x, tv)
                v = vu + cfg * (v - vu)
            x = x + (t_next - t) * v
        return unpatchify(x, self.patch, self.image_size)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="where to write the scripted module (.pt)")
    ap.add_argument("--vocab_size", type=int, default=0,
                    help="reca's tokenizer vocabulary (default: ask reca-train --print_vocab_size)")
    ap.add_argument("--image_size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.vocab_size <= 0:
        ap.error("--vocab_size: required (reca-train --print_vocab_size prints it)")
    torch.manual_seed(args.seed)
    model = torch.jit.script(ExampleUmm(args.vocab_size, image_size=args.image_size))
    model.save(args.out)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    print("wrote %s (%d parameters, %d train, torch %s)" % (args.out, total, trainable, torch.__version__))


if __name__ == "__main__":
    main()
