"""Independent PyTorch implementation of reca's "maskgit" model family.

Mirrors reca/maskgit/maskgit_model.cc op for op, so that for the same weights
(the VQ codebook is a buffer in the file), inputs and noise the RecA losses
and their gradients match the C++ ones (tests/parity/check_parity.py). It is
also the Python peer of the training-throughput benchmark for this family.
The codebook is read from the weights, not refitted (fitting is C++'s
VqCodebookImpl::Fit: k-means++ then Lloyd iterations on shapes-world patches).
"""

import dataclasses
import math
import os
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import reca_flow  # noqa: E402
import reca_mar  # noqa: E402
import safetensors_io  # noqa: E402
from reca_mar import Linear, patchify, unpatchify  # noqa: E402

_INT_FIELDS = (
    "image_size", "patch", "codebook_size", "vq_fit_images", "vq_fit_iters", "und_image_size",
    "clip_patch", "clip_dim", "clip_depth", "clip_heads", "llm_dim", "llm_depth", "llm_heads",
    "mlp_ratio", "vocab_size", "max_text_tokens", "vq_condition",
)


@dataclasses.dataclass
class MaskGitConfig:
    """reca/maskgit/maskgit_config.h; the defaults are the "tiny" preset."""

    name: str = "tiny"
    image_size: int = 32
    patch: int = 4
    codebook_size: int = 256
    vq_fit_images: int = 256
    vq_fit_iters: int = 12
    und_image_size: int = 16
    clip_patch: int = 4
    clip_dim: int = 64
    clip_depth: int = 2
    clip_heads: int = 4
    llm_dim: int = 128
    llm_depth: int = 3
    llm_heads: int = 4
    mlp_ratio: int = 4
    vocab_size: int = 0
    max_text_tokens: int = 40
    vq_condition: int = 0

    @property
    def seq_len(self):
        return (self.image_size // self.patch) ** 2

    @property
    def token_dim(self):
        return self.patch * self.patch * 3

    @property
    def mask_id(self):
        return self.codebook_size

    @property
    def clip_grid(self):
        return self.image_size // self.clip_patch

    @property
    def llm_max_positions(self):
        return 8 + 2 * self.max_text_tokens + self.clip_grid * self.clip_grid

    def to_map(self):
        return reca_mar.config_to_map(self, "maskgit", _INT_FIELDS)

    @classmethod
    def from_map(cls, m):
        # vq_condition came later: older weights lack it.
        return reca_mar.config_from_map(cls, m, "maskgit", _INT_FIELDS, optional=("vq_condition",))


class VqCodebook(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.register_buffer("codebook", torch.zeros(c.codebook_size, c.token_dim))

    @torch.no_grad()
    def encode(self, images):
        b = images.size(0)
        x = patchify(images, self.c.patch).reshape(-1, self.c.token_dim)
        codes = self.codebook.to(x.dtype)
        d = x.pow(2).sum(1, keepdim=True) - 2 * x.matmul(codes.t()) + codes.pow(2).sum(1).unsqueeze(0)
        return d.argmin(1).reshape(b, -1)

    def decode(self, ids):
        b = ids.size(0)
        return unpatchify(self.codebook.index_select(0, ids.reshape(-1)).reshape(b, ids.size(1), -1),
                          self.c.patch, self.c.image_size)


class MaskGitImage(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.emb = nn.Embedding(c.codebook_size + 1, c.llm_dim)
        self.pos = nn.Parameter(torch.zeros(1, c.seq_len, c.llm_dim))
        self.head = Linear(c.llm_dim, c.codebook_size)


class MaskGitModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = self.c = config
        self.vq = VqCodebook(c)
        shape = types.SimpleNamespace(vit_patch=c.clip_patch, vit_grid=c.clip_grid, vit_dim=c.clip_dim,
                                      vit_depth=c.clip_depth, vit_heads=c.clip_heads, mlp_ratio=c.mlp_ratio)
        self.clip = reca_flow.FlowVit(shape)
        self.projector = nn.Sequential(Linear(c.clip_dim, c.llm_dim), nn.GELU(), Linear(c.llm_dim, c.llm_dim))
        self.llm = reca_mar.Llm(types.SimpleNamespace(
            vocab_size=c.vocab_size, llm_dim=c.llm_dim, llm_max_positions=c.llm_max_positions,
            llm_depth=c.llm_depth, llm_heads=c.llm_heads, mlp_ratio=c.mlp_ratio))
        self.img = MaskGitImage(c)
        self.file_metadata = {}

    @classmethod
    def from_safetensors(cls, path):
        tensors, meta = safetensors_io.load_file(path)
        model = cls(MaskGitConfig.from_map(meta))
        reca_flow.copy_weights(model, tensors, path)
        model.file_metadata = dict(meta)
        return model

    load_safetensors = from_safetensors

    @property
    def num_visual_tokens(self):
        if self.c.vq_condition:
            return self.c.seq_len
        return (self.c.und_image_size // self.c.clip_patch) ** 2

    def understanding_embed(self, images):
        c = self.c
        view = images
        f = c.image_size // c.und_image_size
        if f != 1:
            view = F.avg_pool2d(images, f)
        if c.vq_condition:
            if f != 1:
                view = view.repeat_interleave(f, 2).repeat_interleave(f, 3)
            return self.img.emb(self.vq.encode(view)) + self.img.pos
        return self.projector(self.clip(view))

    def assemble_prefix(self, pre_ids, visual, post_ids):
        return reca_flow.assemble_prompt(self.llm, pre_ids, visual, post_ids)

    def sample_generation_noise(self, batch, generator=None):
        """{"mask": [B, S] bool}: the cosine schedule's distribution (not C++'s random stream)."""
        s = self.c.seq_len
        masks = []
        for _ in range(batch):
            u = float(torch.rand(1, generator=generator, dtype=torch.float64))
            n = min(max(int(math.ceil(math.cos(u * math.pi / 2) * s)), 1), s)
            order = torch.randperm(s, generator=generator)
            masks.append(torch.zeros(s, dtype=torch.bool).index_fill_(0, order[:n], True))
        return {"mask": torch.stack(masks)}

    def prefix_key_values(self, embeds, valid):
        return reca_flow.llm_key_values(self.llm, embeds, valid)

    def image_logits(self, kv, valid, ids):
        h = self.img.emb(ids) + self.img.pos
        b, s, p = h.size(0), h.size(1), valid.size(1)
        allowed = torch.cat([valid.unsqueeze(1).expand(b, s, p), valid.new_ones((b, s, s))], 2)
        for blk, ctx in zip(self.llm.blocks, kv):
            h, _ = reca_flow.block_with_context(blk, h, allowed, ctx)
        return self.img.head(self.llm.norm(h))

    def generation_loss(self, embeds, valid, images, noise):
        ids = self.vq.encode(images)
        mask = noise["mask"].to(ids.device)
        logits = self.image_logits(self.prefix_key_values(embeds, valid), valid,
                                   ids.masked_fill(mask, self.c.mask_id))
        return F.cross_entropy(logits[mask], ids[mask])

    def i2t_loss(self, images, pre_ids, post_ids, captions):
        embeds, valid = self.assemble_prefix(pre_ids, self.understanding_embed(images), post_ids)
        return reca_flow.caption_loss(self.llm, embeds, valid, captions)

    def t2i_loss(self, pre_ids, post_ids, images, noise):
        embeds, valid = self.assemble_prefix(pre_ids, None, post_ids)
        return self.generation_loss(embeds, valid, images, noise)
