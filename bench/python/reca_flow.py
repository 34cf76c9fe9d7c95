"""Independent PyTorch implementation of reca's "flow" model family.

Mirrors reca/flow/flow_model.cc op for op (same weights layout, same
operations and constants), so that for the same weights (our safetensors
files), inputs and noise the RecA losses and their gradients match the C++
ones (tests/parity/check_parity.py --family=flow: within 1e-5 relative). It is
also the Python peer of the training-throughput benchmark for this family.
The building blocks (Linear, Block, Llm, patchify, timestep features) are
reca_mar's, as in C++ (reca/mar/layers.h).

    model = FlowModel.from_safetensors("model.safetensors")
    embeds, valid = model.assemble_prefix(pre, model.understanding_embed(images), post)
    loss = model.generation_loss(embeds, valid, images, {"t": t, "eps": eps})
"""

import dataclasses
import os
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import reca_mar  # noqa: E402
import safetensors_io  # noqa: E402
from reca_mar import PAD, Linear, causal_padding_mask, patchify, unpatchify, timestep_embedding  # noqa: E402

FREQ_DIM = 256  # reca/mar/diffusion.h DiffMlpImpl::kFreqDim
# UnifiedModel::DefaultFrozen per family (reca-train's model.frozen: auto).
DEFAULT_FROZEN = {"mar": (), "flow": ("vit", "connector", "und"), "maskgit": ("clip", "vq")}

_INT_FIELDS = (
    "image_size", "patch", "und_image_size", "vit_patch", "vit_dim", "vit_depth", "vit_heads",
    "llm_dim", "llm_depth", "llm_heads", "mlp_ratio", "meta_queries", "vocab_size", "max_text_tokens",
)


@dataclasses.dataclass
class FlowConfig:
    """reca/flow/flow_config.h; the defaults are the "tiny" preset."""

    name: str = "tiny"
    image_size: int = 32
    patch: int = 4
    und_image_size: int = 16
    vit_patch: int = 4
    vit_dim: int = 64
    vit_depth: int = 2
    vit_heads: int = 4
    llm_dim: int = 128
    llm_depth: int = 2
    llm_heads: int = 4
    mlp_ratio: int = 4
    meta_queries: int = 0
    vocab_size: int = 0
    max_text_tokens: int = 40
    timestep_shift: float = 1.0

    @property
    def grid(self):
        return self.image_size // self.patch

    @property
    def seq_len(self):
        return self.grid * self.grid

    @property
    def token_dim(self):
        return self.patch * self.patch * 3

    @property
    def vit_grid(self):
        return self.image_size // self.vit_patch

    @property
    def und_grid(self):
        return self.und_image_size // self.vit_patch

    @property
    def und_seq_len(self):
        return self.und_grid * self.und_grid

    @property
    def llm_max_positions(self):
        return 8 + 2 * self.max_text_tokens + self.vit_grid * self.vit_grid + self.meta_queries

    def validate(self):
        for k in _INT_FIELDS:
            if getattr(self, k) < (0 if k == "meta_queries" else 1):
                raise ValueError("model.%s: out of range" % k)
        if self.image_size % self.patch or self.image_size % self.vit_patch:
            raise ValueError("model.image_size: must be a multiple of model.patch and model.vit_patch")
        if (self.und_image_size % self.vit_patch or self.und_image_size > self.image_size
                or self.vit_grid % self.und_grid):
            raise ValueError("model.und_image_size: must be a multiple of model.vit_patch that divides "
                             "model.image_size")
        if self.vit_dim % self.vit_heads or self.llm_dim % self.llm_heads:
            raise ValueError("model.*_heads: each width must be divisible by its head count")
        if not self.timestep_shift > 0:
            raise ValueError("model.timestep_shift: must be > 0")
        return self

    def to_map(self):
        return reca_mar.config_to_map(self, "flow", _INT_FIELDS, ("timestep_shift",))

    @classmethod
    def from_map(cls, m):
        return reca_mar.config_from_map(cls, m, "flow", _INT_FIELDS, ("timestep_shift",)).validate()


def attention_with_context(attn, x, allowed, context=None):
    """reca/mar/layers.cc AttentionImpl::forward with `context` and `keep`: returns (out, (k, v))."""
    b, n, d = x.shape
    qkv = attn.qkv(x).view(b, n, 3, attn.heads, d // attn.heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    own = (k, v)
    if context is not None:
        k = torch.cat([context[0], k], 2)
        v = torch.cat([context[1], v], 2)
    att = torch.matmul(q * attn.scale, k.transpose(-2, -1))
    if allowed is not None:
        att = att.masked_fill(allowed.unsqueeze(1).logical_not(), float("-inf"))
    att = att.softmax(-1)
    return attn.proj(torch.matmul(att, v).transpose(1, 2).reshape(b, n, d)), own


def block_with_context(blk, x, allowed, context=None):
    a, own = attention_with_context(blk.attn, blk.ln1(x), allowed, context)
    h = x + a
    return h + blk.fc2(F.gelu(blk.fc1(blk.ln2(h)))), own


def assemble_prompt(llm, pre_ids, visual, post_ids):
    """[pre] [visual (may be None)] [post] -> (embeds, valid): AssemblePromptPrefix."""
    embeds = [llm.embed(pre_ids)]
    valid = [pre_ids.ne(PAD)]
    if visual is not None:
        embeds.append(visual)
        valid.append(torch.ones(visual.size(0), visual.size(1), dtype=torch.bool, device=visual.device))
    embeds.append(llm.embed(post_ids))
    valid.append(post_ids.ne(PAD))
    return torch.cat(embeds, 1), torch.cat(valid, 1)


def caption_loss(llm, embeds, valid, captions):
    """LlmImpl::CaptionLoss: cross-entropy of the captions read after the prefix."""
    lp, lc = embeds.size(1), captions.size(1)
    embeds = torch.cat([embeds, llm.embed(captions)], 1)
    valid = torch.cat([valid, captions.ne(PAD)], 1)
    logits = llm.logits(llm(embeds, valid).narrow(1, lp - 1, lc))
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), captions.reshape(-1), ignore_index=PAD)


def keys_values(attn, x):
    """AttentionImpl::KeysValues: only the keys and values of x."""
    b, n, d = x.shape
    qkv = attn.qkv(x).view(b, n, 3, attn.heads, d // attn.heads).permute(2, 0, 3, 1, 4)
    return qkv[1], qkv[2]


def llm_key_values(llm, embeds, valid):
    """LlmImpl::PrefixKeyValues: every layer's (keys, values) over a prefix, nothing past them."""
    positions = (valid.to(torch.int64).cumsum(1) - 1).clamp_min(0)
    x = embeds + llm.pos.index_select(0, positions.reshape(-1)).view_as(embeds)
    allowed = causal_padding_mask(valid)
    kv = []
    for blk in llm.blocks[:-1]:
        x, own = block_with_context(blk, x, allowed)
        kv.append(own)
    last = llm.blocks[-1]
    kv.append(keys_values(last.attn, last.ln1(x)))
    return kv


def copy_weights(model, tensors, path):
    """Copies a SaveModel file's tensors into `model`: names and shapes must match exactly."""
    targets = model.state_dict(keep_vars=True)
    if set(targets) != set(tensors):
        raise ValueError("%s: tensors differ from the model's: only file %s, only model %s"
                         % (path, sorted(set(tensors) - set(targets)), sorted(set(targets) - set(tensors))))
    with torch.no_grad():
        for name, p in targets.items():
            if tuple(tensors[name].shape) != tuple(p.shape):
                raise ValueError("%s: tensor '%s' has shape %s, the model expects %s"
                                 % (path, name, list(tensors[name].shape), list(p.shape)))
            p.copy_(tensors[name])


def pool_positions(pos, g, grid):
    if grid == g:
        return pos
    d = pos.size(2)
    img = pos.reshape(1, g, g, d).permute(0, 3, 1, 2)
    img = F.avg_pool2d(img, g // grid)
    return img.permute(0, 2, 3, 1).reshape(1, grid * grid, d)


class FlowVit(nn.Module):
    """reca/flow/flow_model.cc FlowVitImpl; `c` has vit_patch, vit_grid, vit_dim, vit_depth,
    vit_heads and mlp_ratio (a FlowConfig, or the maskgit family's CLIP shape)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        self.patch_embed = Linear(c.vit_patch * c.vit_patch * 3, c.vit_dim)
        self.pos = nn.Parameter(torch.zeros(1, c.vit_grid * c.vit_grid, c.vit_dim))
        self.blocks = reca_mar.make_blocks(c.vit_depth, c.vit_dim, c.vit_heads, c.mlp_ratio)

    def forward(self, images):
        grid = images.size(2) // self.c.vit_patch
        x = self.patch_embed(patchify(images, self.c.vit_patch))
        return reca_mar.run_blocks(self.blocks, x + pool_positions(self.pos, self.c.vit_grid, grid))


class FlowGen(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.x_in = Linear(c.token_dim, c.llm_dim)
        self.pos = nn.Parameter(torch.zeros(1, c.seq_len, c.llm_dim))
        self.time_fc1 = Linear(FREQ_DIM, c.llm_dim)
        self.time_fc2 = Linear(c.llm_dim, c.llm_dim)
        self.blocks = reca_mar.make_blocks(c.llm_depth, c.llm_dim, c.llm_heads, c.mlp_ratio)
        self.norm = reca_mar.layer_norm(c.llm_dim)
        self.x_out = Linear(c.llm_dim, c.token_dim)

    def embed(self, x_t, t):
        temb = self.time_fc2(F.silu(self.time_fc1(timestep_embedding(t * 1000.0, FREQ_DIM))))
        return self.x_in(x_t) + self.pos + temb.unsqueeze(1)

    def out(self, h):
        return self.x_out(self.norm(h))


def _mlp2(a, b):
    return nn.Sequential(Linear(a, b), nn.GELU(), Linear(b, b))


class FlowModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = self.c = config.validate()
        self.vit = FlowVit(c)
        self.connector = _mlp2(c.vit_dim, c.llm_dim)
        llm_shape = types.SimpleNamespace(vocab_size=c.vocab_size, llm_dim=c.llm_dim,
                                          llm_max_positions=c.llm_max_positions, llm_depth=c.llm_depth,
                                          llm_heads=c.llm_heads, mlp_ratio=c.mlp_ratio)
        self.und = reca_mar.Llm(llm_shape)
        self.gen = FlowGen(c)
        if c.meta_queries > 0:
            self.meta = _mlp2(c.llm_dim, c.llm_dim)
            self.meta_queries = nn.Parameter(torch.zeros(1, c.meta_queries, c.llm_dim))
        self.file_metadata = {}

    @classmethod
    def from_safetensors(cls, path):
        tensors, meta = safetensors_io.load_file(path)
        model = cls(FlowConfig.from_map(meta))
        copy_weights(model, tensors, path)
        model.file_metadata = dict(meta)
        return model

    load_safetensors = from_safetensors

    @property
    def num_visual_tokens(self):
        return self.c.und_seq_len

    def understanding_embed(self, images):
        c = self.c
        view = images
        if c.und_image_size != c.image_size:
            view = F.avg_pool2d(images, c.image_size // c.und_image_size)
        return self.connector(self.vit(view))

    def assemble_prefix(self, pre_ids, visual, post_ids):
        return assemble_prompt(self.und, pre_ids, visual, post_ids)

    def sample_generation_noise(self, batch, generator=None):
        """{"t": [B] logit-normal (shifted), "eps": [B, S, C]}: FlowModel::SampleGenerationNoise's
        distribution, not its random stream."""
        c = self.c
        t = torch.sigmoid(torch.randn(batch, generator=generator))
        s = c.timestep_shift
        if s != 1.0:
            t = s * t / (1.0 + (s - 1.0) * t)
        return {"t": t, "eps": torch.randn(batch, c.seq_len, c.token_dim, generator=generator)}

    def conditioning(self, embeds, valid):
        c = self.c
        if c.meta_queries > 0:
            b, n = embeds.size(0), c.meta_queries
            q = self.meta_queries.to(embeds.dtype).expand(b, n, c.llm_dim)
            v = torch.cat([valid, valid.new_ones((b, n))], 1)
            hidden = self.und(torch.cat([embeds, q], 1), v)
            return {"tokens": self.meta(hidden.narrow(1, embeds.size(1), n))}
        # The und expert over the prefix, keeping every layer's keys/values.
        return {"kv": llm_key_values(self.und, embeds, valid), "valid": valid}

    def velocity(self, cond, x_t, t):
        h = self.gen.embed(x_t, t)
        b, s = h.size(0), h.size(1)
        if "tokens" in cond:
            n = cond["tokens"].size(1)
            h = reca_mar.run_blocks(self.gen.blocks, torch.cat([cond["tokens"], h], 1)).narrow(1, n, s)
            return self.gen.out(h)
        valid = cond["valid"]
        p = valid.size(1)
        allowed = torch.cat([valid.unsqueeze(1).expand(b, s, p), valid.new_ones((b, s, s))], 2)
        for blk, ctx in zip(self.gen.blocks, cond["kv"]):
            h, _ = block_with_context(blk, h, allowed, ctx)
        return self.gen.out(h)

    def generation_loss(self, embeds, valid, images, noise):
        dev = images.device
        x0 = patchify(images, self.c.patch).detach()
        t = noise["t"].to(dev)
        eps = noise["eps"].to(dev)
        tt = t.reshape(-1, 1, 1)
        x_t = (1.0 - tt) * x0 + tt * eps
        v = self.velocity(self.conditioning(embeds, valid), x_t, t)
        return F.mse_loss(v, eps - x0)

    def i2t_loss(self, images, pre_ids, post_ids, captions):
        embeds, valid = self.assemble_prefix(pre_ids, self.understanding_embed(images), post_ids)
        return caption_loss(self.und, embeds, valid, captions)

    def t2i_loss(self, pre_ids, post_ids, images, noise):
        embeds, valid = self.assemble_prefix(pre_ids, None, post_ids)
        return self.generation_loss(embeds, valid, images, noise)

    @torch.no_grad()
    def generate(self, cond, uncond, steps=50, cfg=3.0, temperature=1.0, generator=None):
        """Euler sampling from t = 1 to 0 (FlowModel::Generate): cond/uncond are (embeds, valid)."""
        c = self.c
        b = cond[0].size(0)
        cc = self.conditioning(*cond)
        cu = self.conditioning(*uncond) if cfg != 1.0 else None
        x = (torch.randn(b, c.seq_len, c.token_dim, generator=generator) * temperature).to(cond[0].device)
        s = c.timestep_shift

        def shifted(t):
            return s * t / (1.0 + (s - 1.0) * t)

        for i in range(steps):
            t, t_next = shifted(1.0 - i / steps), shifted(1.0 - (i + 1) / steps)
            tv = torch.full((b,), t, dtype=x.dtype, device=x.device)
            v = self.velocity(cc, x, tv)
            if cu is not None:
                vu = self.velocity(cu, x, tv)
                v = vu + cfg * (v - vu)
            x = x + (t_next - t) * v
        return unpatchify(x, c.patch, c.image_size)


def load_model(path):
    """The model a SaveModel file describes, whichever family (mar, flow or maskgit)."""
    _, meta = safetensors_io.load_file(path)
    family = meta.get("family")
    if family == "flow":
        return FlowModel.from_safetensors(path)
    if family == "mar":
        return reca_mar.MarModel.from_safetensors(path)
    if family == "maskgit":
        import reca_maskgit  # noqa: E402 (imports this module)
        return reca_maskgit.MaskGitModel.from_safetensors(path)
    raise ValueError("%s: unknown model family %r" % (path, family))
