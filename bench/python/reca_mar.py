"""Independent PyTorch implementation of reca's "mar" model family.

Mirrors reca/mar/{layers,diffusion,mar_model}.cc op for op (same operations,
same order, same constants), so that for the same weights (our safetensors
files), inputs and noise the RecA losses and their gradients match the C++
ones (tests/parity/check_parity.py: within 1e-5 relative; on the same
LibTorch build and thread count they come out bit-identical). Note Linear
below: torch::nn::Linear in C++ does not compute what Python's F.linear does.
It is
also the Python peer of the training-throughput benchmark, so the hot path is
plain batched PyTorch.

    model = MarModel.from_safetensors("model.safetensors")
    visual = model.understanding_embed(images)                 # [B, V, llm_dim]
    embeds, valid = model.assemble_prefix(pre, visual, post)
    noise = model.sample_generation_noise(B, torch.Generator().manual_seed(0))
    loss = model.generation_loss(embeds, valid, images, noise)
    loss = model.i2t_loss(images, pre, post, captions)
    loss = model.t2i_loss(pre, post, images, noise)

Parameter names equal the C++ named_parameters() ("enc.blocks.0.attn.qkv.weight",
"llm.pos", "dec.mask_token", "diff.final_linear.bias", ...).
"""

import dataclasses
import functools
import math
import os
import re
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
import safetensors_io  # noqa: E402

__all__ = [
    "PAD",
    "LAYER_NORM_EPS",
    "config_to_map",
    "config_from_map",
    "MarConfig",
    "GradScale",
    "grad_scale",
    "Linear",
    "causal_padding_mask",
    "patchify",
    "unpatchify",
    "CosineSchedule",
    "timestep_embedding",
    "Attention",
    "Block",
    "MarEncoder",
    "MarDecoder",
    "Llm",
    "DiffResBlock",
    "DiffMlp",
    "diffusion_loss",
    "MarModel",
    "recorded_steps",
]

# reca/tokenizer.h
PAD, UNK, BOS, EOS, USER, ASSISTANT = 0, 1, 2, 3, 4, 5
# reca/mar/layers.h
LAYER_NORM_EPS = 1e-6


# ----------------------------------------------------------------------------
# Config (reca/mar/mar_config.{h,cc})
# ----------------------------------------------------------------------------

_INT_FIELDS = (
    "image_size", "patch", "und_image_size", "buffer_tokens",
    "enc_dim", "enc_depth", "enc_heads", "llm_dim", "llm_depth", "llm_heads",
    "dec_dim", "dec_depth", "dec_heads", "mlp_ratio", "diff_width", "diff_depth",
    "diff_train_steps", "diff_batch_mul", "vocab_size", "max_text_tokens",
)
_FLOAT_FIELDS = ("und_grad_scale", "mask_ratio_min", "mask_ratio_std")


def config_to_map(c, family, int_fields, float_fields=()):
    """reca/model_config.h ConfigToMap: {"family", "name", every field}, doubles with 17 digits."""
    m = {"family": family, "name": c.name}
    m.update({k: str(getattr(c, k)) for k in int_fields})
    m.update({k: "%.17g" % getattr(c, k) for k in float_fields})
    return m


def config_from_map(cls, m, family, int_fields, float_fields=(), optional=()):
    """reca/model_config.h ConfigFromMap: a `cls` config from metadata; fields in `optional`
    (added after the family shipped) keep their defaults when missing. Not validated."""
    if m.get("family") != family:
        raise ValueError("checkpoint metadata: family is not '%s'" % family)
    c = cls(name=m.get("name", "tiny"))
    for k in int_fields:
        if k not in m and k in optional:
            continue
        if k not in m:
            raise ValueError("checkpoint metadata: missing " + k)
        if not re.fullmatch(r"\s*[+-]?\d+", m[k]):
            raise ValueError("checkpoint metadata: %s is not an integer" % k)
        setattr(c, k, int(m[k]))
    for k in float_fields:
        if k not in m:
            raise ValueError("checkpoint metadata: missing " + k)
        try:
            setattr(c, k, float(m[k]))
        except ValueError:
            raise ValueError("checkpoint metadata: %s is not a number" % k) from None
    return c


@dataclasses.dataclass
class MarConfig:
    """Shape of a mar model; the defaults are the "tiny" preset (reca/mar/mar_config.h)."""

    name: str = "tiny"
    image_size: int = 32
    patch: int = 4
    und_image_size: int = 16
    buffer_tokens: int = 16
    enc_dim: int = 96
    enc_depth: int = 2
    enc_heads: int = 4
    llm_dim: int = 128
    llm_depth: int = 2
    llm_heads: int = 4
    dec_dim: int = 96
    dec_depth: int = 2
    dec_heads: int = 4
    mlp_ratio: int = 4
    diff_width: int = 192
    diff_depth: int = 3
    diff_train_steps: int = 1000
    diff_batch_mul: int = 4
    vocab_size: int = 0
    max_text_tokens: int = 40
    und_grad_scale: float = 0.1
    mask_ratio_min: float = 0.7
    mask_ratio_std: float = 0.25

    @property
    def grid(self):
        return self.image_size // self.patch

    @property
    def seq_len(self):
        return self.grid * self.grid

    @property
    def und_grid(self):
        return self.und_image_size // self.patch

    @property
    def und_seq_len(self):
        return self.und_grid * self.und_grid

    @property
    def token_dim(self):
        return self.patch * self.patch * 3

    @property
    def llm_max_positions(self):
        return (2 + self.max_text_tokens + self.und_seq_len + self.buffer_tokens
                + self.seq_len + self.buffer_tokens + 2)

    def validate(self):
        for k in _INT_FIELDS:
            if getattr(self, k) <= 0:
                raise ValueError("model.%s: must be > 0" % k)
        if self.image_size % self.patch:
            raise ValueError("model.image_size: must be a multiple of model.patch")
        if (self.und_image_size % self.patch or self.und_image_size > self.image_size
                or self.grid % self.und_grid):
            raise ValueError("model.und_image_size: must be a multiple of model.patch "
                             "that divides model.image_size")
        if (self.enc_dim % self.enc_heads or self.llm_dim % self.llm_heads
                or self.dec_dim % self.dec_heads):
            raise ValueError("model.*_heads: each width must be divisible by its head count")
        if not 0 < self.mask_ratio_min <= 1:
            raise ValueError("model.mask_ratio_min: must be in (0, 1]")
        if not self.mask_ratio_std > 0:
            raise ValueError("model.mask_ratio_std: must be > 0")
        if not 0 <= self.und_grad_scale <= 1:
            raise ValueError("model.und_grad_scale: must be in [0, 1]")
        return self

    def to_map(self):
        """The flat metadata form (MarConfig::ToMap: doubles with 17 digits)."""
        return config_to_map(self, "mar", _INT_FIELDS, _FLOAT_FIELDS)

    @classmethod
    def from_map(cls, m):
        return config_from_map(cls, m, "mar", _INT_FIELDS, _FLOAT_FIELDS).validate()

    @classmethod
    def preset(cls, name, vocab_size):
        """MarPreset: "tiny" or "medium"."""
        c = cls(name=name, vocab_size=vocab_size)
        if name == "medium":
            c.image_size, c.und_image_size, c.buffer_tokens = 64, 32, 32
            c.enc_dim, c.enc_depth, c.enc_heads = 384, 4, 6
            c.llm_dim, c.llm_depth, c.llm_heads = 512, 6, 8
            c.dec_dim, c.dec_depth, c.dec_heads = 384, 4, 6
            c.diff_width, c.diff_depth = 512, 4
        elif name != "tiny":
            raise ValueError("model.config: unknown preset '%s' (expected 'tiny' or 'medium')" % name)
        return c.validate()


# ----------------------------------------------------------------------------
# Building blocks (reca/mar/layers.cc)
# ----------------------------------------------------------------------------

class GradScale(torch.autograd.Function):
    """Forward: identity (a view). Backward: gradient times `scale`."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


def grad_scale(x, scale):
    return x if scale == 1.0 else GradScale.apply(x, scale)


class Linear(nn.Linear):
    """nn.Linear whose forward is LibTorch's C++ frontend torch::nn::functional::linear
    (what torch::nn::Linear runs), not at::linear (what Python's F.linear runs): a fused
    addmm only for 2-D input; otherwise matmul, then the bias added in place. The two
    round differently once the BLAS splits the reduction dimension into blocks (here
    from K = 384, the LLM's fc2), because addmm accumulates the partial products onto
    the bias instead of adding the bias to the finished product.
    """

    def forward(self, x):
        if x.dim() == 2 and self.bias is not None:
            return torch.addmm(self.bias, x, self.weight.t())
        out = x.matmul(self.weight.t())
        if self.bias is not None:
            out += self.bias
        return out


def layer_norm(dim, affine=True):
    return nn.LayerNorm(dim, eps=LAYER_NORM_EPS, elementwise_affine=affine)


def causal_padding_mask(valid):
    """[B, L] bool -> [B, L, L] bool: causal AND key valid, OR the diagonal."""
    n = valid.size(1)
    causal = torch.ones(n, n, dtype=torch.bool, device=valid.device).tril()
    eye = torch.eye(n, dtype=torch.bool, device=valid.device)
    return causal.unsqueeze(0).logical_and(valid.unsqueeze(1)).logical_or(eye.unsqueeze(0))


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / math.sqrt(float(dim // heads))
        self.qkv = Linear(dim, 3 * dim)
        self.proj = Linear(dim, dim)

    def forward(self, x, allowed=None):
        b, n, d = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = torch.matmul(q, k.transpose(-2, -1)) * self.scale
        if allowed is not None:
            att = att.masked_fill(allowed.unsqueeze(1).logical_not(), float("-inf"))
        att = att.softmax(-1)
        out = torch.matmul(att, v).transpose(1, 2).reshape(b, n, d)
        return self.proj(out)


class Block(nn.Module):
    """Pre-norm transformer block with exact GELU."""

    def __init__(self, dim, heads, mlp_ratio):
        super().__init__()
        self.ln1 = layer_norm(dim)
        self.attn = Attention(dim, heads)
        self.ln2 = layer_norm(dim)
        self.fc1 = Linear(dim, dim * mlp_ratio)
        self.fc2 = Linear(dim * mlp_ratio, dim)

    def forward(self, x, allowed=None):
        h = x + self.attn(self.ln1(x), allowed)
        return h + self.fc2(F.gelu(self.fc1(self.ln2(h))))


def make_blocks(depth, dim, heads, mlp_ratio):
    return nn.ModuleList([Block(dim, heads, mlp_ratio) for _ in range(depth)])


def run_blocks(blocks, x, allowed=None):
    for blk in blocks:
        x = blk(x, allowed)
    return x


def init_linears_and_norms(module):
    """MAR init of every submodule: xavier-uniform Linear, zero bias, unit LayerNorm."""
    with torch.no_grad():
        for m in module.modules():
            if m is module:
                continue
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.LayerNorm) and m.weight is not None:
                m.weight.fill_(1.0)
                m.bias.zero_()


def _normal_param(*shape):
    return nn.Parameter(torch.empty(*shape).normal_(0.0, 0.02))


# ----------------------------------------------------------------------------
# Image tokens (reca/mar/mar_model.cc Patchify / Unpatchify)
# ----------------------------------------------------------------------------

def patchify(images, patch):
    """Pixels in [0, 1] [B, 3, H, W] -> tokens in [-1, 1] [B, (H/p)*(W/p), p*p*3]."""
    b, g = images.size(0), images.size(2) // patch
    return ((images * 2.0 - 1.0)
            .reshape(b, 3, g, patch, g, patch)
            .permute(0, 2, 4, 1, 3, 5)
            .reshape(b, g * g, 3 * patch * patch))


def unpatchify(tokens, patch, size):
    b, g = tokens.size(0), size // patch
    x = tokens.reshape(b, g, g, 3, patch, patch).permute(0, 3, 1, 4, 2, 5).reshape(b, 3, size, size)
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


# ----------------------------------------------------------------------------
# Diffusion head (reca/mar/diffusion.cc)
# ----------------------------------------------------------------------------

class CosineSchedule:
    """Cosine DDPM schedule (s = 0.008) in float64, cast to float32 like the C++."""

    def __init__(self, steps):
        s = 0.008

        def f(u):
            v = math.cos((u + s) / (1.0 + s) * math.pi / 2.0)
            return v * v

        self.steps = steps
        self.alphas_cumprod = []
        prod = 1.0
        for i in range(steps):
            beta = min(1.0 - f(float(i + 1) / steps) / f(float(i) / steps), 0.999)
            prod *= 1.0 - beta
            self.alphas_cumprod.append(prod)
        # torch.tensor rounds each double to the nearest float, as static_cast<float>.
        self.sqrt_ab = torch.tensor([math.sqrt(p) for p in self.alphas_cumprod], dtype=torch.float32)
        self.sqrt_one_minus_ab = torch.tensor([math.sqrt(1.0 - p) for p in self.alphas_cumprod],
                                              dtype=torch.float32)


def timestep_embedding(t, dim):
    """Sinusoidal features [M, dim] of int timesteps t [M], cos first."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(0, half, dtype=torch.float32, device=t.device)
                      / half)
    args = t.to(torch.float32).unsqueeze(1) * freqs.unsqueeze(0)
    return torch.cat([torch.cos(args), torch.sin(args)], -1)


class DiffResBlock(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.ln = layer_norm(width)
        self.fc1 = Linear(width, width)
        self.fc2 = Linear(width, width)
        self.ada = Linear(width, 3 * width)

    def forward(self, x, y):
        shift, scale, gate = self.ada(F.silu(y)).chunk(3, -1)
        h = self.ln(x) * (1 + scale) + shift
        h = self.fc2(F.silu(self.fc1(h)))
        return x + gate * h


class DiffMlp(nn.Module):
    """MAR's SimpleMLPAdaLN: predicts eps [M, C] from x_t [M, C], t [M], z [M, cond_dim]."""

    FREQ_DIM = 256

    def __init__(self, token_dim, cond_dim, width, depth):
        super().__init__()
        self.time_fc1 = Linear(self.FREQ_DIM, width)
        self.time_fc2 = Linear(width, width)
        self.cond = Linear(cond_dim, width)
        self.input_proj = Linear(token_dim, width)
        self.blocks = nn.ModuleList([DiffResBlock(width) for _ in range(depth)])
        self.final_norm = layer_norm(width, affine=False)
        self.final_ada = Linear(width, 2 * width)
        self.final_linear = Linear(width, token_dim)

    def reset_parameters(self):
        init_linears_and_norms(self)
        with torch.no_grad():
            nn.init.normal_(self.time_fc1.weight, 0.0, 0.02)
            nn.init.normal_(self.time_fc2.weight, 0.0, 0.02)
            for b in self.blocks:
                b.ada.weight.zero_()
                b.ada.bias.zero_()
            for lin in (self.final_ada, self.final_linear):
                lin.weight.zero_()
                lin.bias.zero_()

    def forward(self, x, t, z):
        temb = self.time_fc2(F.silu(self.time_fc1(timestep_embedding(t, self.FREQ_DIM))))
        y = temb + self.cond(z)
        h = self.input_proj(x)
        for b in self.blocks:
            h = b(h, y)
        shift, scale = self.final_ada(F.silu(y)).chunk(2, -1)
        h = self.final_norm(h) * (1 + scale) + shift
        return self.final_linear(h)


def diffusion_loss(net, sqrt_ab, sqrt_one_minus_ab, x0, z, t, eps, weight):
    """Masked epsilon-MSE: channel mean, then a weight-weighted mean over tokens."""
    a = sqrt_ab.to(x0.device).index_select(0, t).unsqueeze(1)
    s = sqrt_one_minus_ab.to(x0.device).index_select(0, t).unsqueeze(1)
    xt = a * x0 + s * eps
    per_token = (net(xt, t, z) - eps).pow(2).mean(-1)
    return (per_token * weight).sum() / weight.sum()


# ----------------------------------------------------------------------------
# Encoder, LLM, decoder (reca/mar/mar_model.cc)
# ----------------------------------------------------------------------------

class MarEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.z_proj = Linear(c.token_dim, c.enc_dim)
        self.pos = _normal_param(1, c.buffer_tokens + c.seq_len, c.enc_dim)
        self.z_proj_ln = layer_norm(c.enc_dim)
        self.blocks = make_blocks(c.enc_depth, c.enc_dim, c.enc_heads, c.mlp_ratio)
        self.norm = layer_norm(c.enc_dim)

    def forward(self, tokens, visible, grid):
        """tokens [B, g*g, C]; visible [B, g*g] bool or None -> [B, buf + kept, enc_dim]."""
        b, buf, d = tokens.size(0), self.c.buffer_tokens, self.c.enc_dim
        x = self.z_proj(tokens)
        x = torch.cat([x.new_zeros((b, buf, d)), x], 1)
        pos = self.pos
        if grid != self.c.grid:
            # A lower-resolution view reuses the learned grid, average-pooled.
            g = self.c.grid
            img = self.pos.narrow(1, buf, g * g).reshape(1, g, g, d).permute(0, 3, 1, 2)
            img = F.avg_pool2d(img, g // grid)
            pos = torch.cat([self.pos.narrow(1, 0, buf),
                             img.permute(0, 2, 3, 1).reshape(1, grid * grid, d)], 1)
        x = self.z_proj_ln(x + pos)
        if visible is not None:
            keep = torch.cat([visible.new_ones((b, buf)), visible], 1)
            x = x[keep].reshape(b, -1, d)
        return self.norm(run_blocks(self.blocks, x))


class MarDecoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed = Linear(c.enc_dim, c.dec_dim)
        self.mask_token = _normal_param(1, 1, c.dec_dim)
        self.pos = _normal_param(1, c.buffer_tokens + c.seq_len, c.dec_dim)
        self.blocks = make_blocks(c.dec_depth, c.dec_dim, c.dec_heads, c.mlp_ratio)
        self.norm = layer_norm(c.dec_dim)
        self.diff_pos = _normal_param(1, c.seq_len, c.dec_dim)

    def forward(self, x_in, visible):
        """x_in [B, buf + visible, enc_dim] -> conditions z [B, seq, dec_dim]."""
        c = self.c
        b, buf, d = x_in.size(0), c.buffer_tokens, c.dec_dim
        n = buf + c.seq_len
        x = self.embed(x_in)
        keep = torch.cat([visible.new_ones((b, buf)), visible], 1)
        x = self.mask_token.to(x.dtype).expand(b, n, d).masked_scatter(keep.unsqueeze(-1).expand(b, n, d), x)
        x = self.norm(run_blocks(self.blocks, x + self.pos))
        return x.narrow(1, buf, c.seq_len) + self.diff_pos


class Llm(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.tok_emb = nn.Embedding(c.vocab_size, c.llm_dim)
        self.pos = _normal_param(c.llm_max_positions, c.llm_dim)
        self.blocks = make_blocks(c.llm_depth, c.llm_dim, c.llm_heads, c.mlp_ratio)
        self.norm = layer_norm(c.llm_dim)
        self.head = Linear(c.llm_dim, c.vocab_size, bias=False)

    def embed(self, ids):
        return self.tok_emb(ids)

    def forward(self, embeds, valid):
        """embeds [B, L, D], valid [B, L] bool -> final hidden states [B, L, D]."""
        positions = (valid.to(torch.int64).cumsum(1) - 1).clamp_min(0)
        x = embeds + self.pos.index_select(0, positions.reshape(-1)).view_as(embeds)
        return self.norm(run_blocks(self.blocks, x, causal_padding_mask(valid)))

    def logits(self, hidden):
        return self.head(hidden)


# ----------------------------------------------------------------------------
# The model (reca/mar/mar_model.cc MarModel)
# ----------------------------------------------------------------------------

class _class_or_instance_method:
    """Binds func(cls, self_or_None, ...): callable on the class and on instances."""

    def __init__(self, func):
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, obj, owner):
        return functools.partial(self.func, owner, obj)


class MarModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        c = self.c = config.validate()
        self.enc = MarEncoder(c)
        self.proj_in_fc1 = Linear(c.enc_dim, c.llm_dim)
        self.proj_in_fc2 = Linear(c.llm_dim, c.llm_dim)
        self.llm = Llm(c)
        self.proj_out = Linear(c.llm_dim, c.enc_dim)
        self.dec = MarDecoder(c)
        self.diff = DiffMlp(c.token_dim, c.dec_dim, c.diff_width, c.diff_depth)
        init_linears_and_norms(self)
        self.diff.reset_parameters()
        with torch.no_grad():
            nn.init.normal_(self.llm.tok_emb.weight, 0.0, 0.02)
        sched = CosineSchedule(c.diff_train_steps)
        self.alphas_cumprod = sched.alphas_cumprod
        # Not checkpointed (the C++ model recomputes them too); they follow .to(device).
        self.register_buffer("sqrt_ab", sched.sqrt_ab, persistent=False)
        self.register_buffer("sqrt_one_minus_ab", sched.sqrt_one_minus_ab, persistent=False)
        self.file_metadata = {}

    # -- construction and checkpoints ---------------------------------------

    @classmethod
    def from_metadata(cls, meta):
        """A freshly initialised model of the config stored in safetensors metadata."""
        return cls(MarConfig.from_map(meta))

    @classmethod
    def from_safetensors(cls, path):
        tensors, meta = safetensors_io.load_file(path)
        model = cls.from_metadata(meta)
        model._copy_weights(tensors, path)
        model.file_metadata = dict(meta)
        return model

    def config_map(self):
        return self.c.to_map()

    @_class_or_instance_method
    def load_safetensors(cls, self, path):
        """Loads a checkpoint written by SaveModel (or save_safetensors).

        MarModel.load_safetensors(path) builds the model the file's metadata
        describes (= from_safetensors); model.load_safetensors(path) copies the
        file's weights into an existing model (names and shapes must match
        exactly, the config too when the file records one). Returns the model;
        the file's metadata is kept in model.file_metadata.
        """
        if self is None:
            return cls.from_safetensors(path)
        tensors, meta = safetensors_io.load_file(path)
        if "family" in meta and MarConfig.from_map(meta).to_map() != self.c.to_map():
            raise ValueError("%s: model config differs from this model's" % path)
        self._copy_weights(tensors, path)
        self.file_metadata = dict(meta)
        return self

    def _copy_weights(self, tensors, path):
        targets = self.state_dict(keep_vars=True)
        for name, p in targets.items():
            if name not in tensors:
                raise ValueError("%s: missing tensor '%s'" % (path, name))
            if tuple(tensors[name].shape) != tuple(p.shape):
                raise ValueError("%s: tensor '%s' has shape %s, the model expects %s"
                                 % (path, name, list(tensors[name].shape), list(p.shape)))
        for name in tensors:
            if name not in targets:
                raise ValueError("%s: unexpected tensor '%s'" % (path, name))
        with torch.no_grad():
            for name, p in targets.items():
                p.copy_(tensors[name])

    def save_safetensors(self, path, extra=None):
        """Weights + config metadata (as SaveModel; keeps a loaded tokenizer fingerprint)."""
        meta = self.config_map()
        if "tokenizer_fingerprint" in self.file_metadata:
            meta["tokenizer_fingerprint"] = self.file_metadata["tokenizer_fingerprint"]
        meta.update(extra or {})
        safetensors_io.save_file(path, dict(self.state_dict()), meta)

    # -- the UnifiedModel interface ------------------------------------------

    @property
    def num_visual_tokens(self):
        return self.c.und_seq_len + self.c.buffer_tokens

    def understanding_embed(self, images):
        """[B, 3, H, W] in [0, 1] -> understanding tokens in LLM space [B, und_seq + buf, llm_dim]."""
        c = self.c
        view = images
        if c.und_image_size != c.image_size:
            view = F.avg_pool2d(images, c.image_size // c.und_image_size)
        x = self.enc(patchify(view, c.patch), None, c.und_grid)
        # Harmon moves the buffer tokens behind the image tokens.
        x = torch.cat([x.narrow(1, c.buffer_tokens, c.und_seq_len), x.narrow(1, 0, c.buffer_tokens)], 1)
        x = self.proj_in_fc2(F.silu(self.proj_in_fc1(x)))
        return grad_scale(x, c.und_grad_scale)

    def assemble_prefix(self, pre_ids, visual, post_ids):
        """[pre] [visual (may be None)] [post] -> (embeds [B, L, D], valid [B, L] bool)."""
        embeds = [self.llm.embed(pre_ids)]
        valid = [pre_ids.ne(PAD)]
        if visual is not None:
            embeds.append(visual)
            valid.append(torch.ones(visual.size(0), visual.size(1), dtype=torch.bool,
                                    device=visual.device))
        embeds.append(self.llm.embed(post_ids))
        valid.append(post_ids.ne(PAD))
        return torch.cat(embeds, 1), torch.cat(valid, 1)

    def sample_generation_noise(self, batch, generator=None):
        """{"mask": [B, seq] bool (True = masked), "t": [B*seq*mul] int64, "eps": [B*seq*mul, C]}.

        Same distribution as MarModel::SampleGenerationNoise (one truncated-normal
        mask ratio per batch, a random order per row), not the same random stream.
        """
        c = self.c
        seq = c.seq_len
        m = batch * seq * c.diff_batch_mul
        ratio = 1.0
        for _ in range(1000):  # rejection sampling of N(1, std) on [min, 1]
            r = 1.0 + c.mask_ratio_std * float(torch.randn(1, generator=generator))
            if c.mask_ratio_min <= r <= 1.0:
                ratio = r
                break
        num_masked = int(math.ceil(seq * ratio))
        order = torch.rand(batch, seq, generator=generator).argsort(dim=1)
        mask = torch.zeros(batch, seq, dtype=torch.bool)
        mask.scatter_(1, order.narrow(1, 0, num_masked), True)
        return {
            "mask": mask,
            "t": torch.randint(0, c.diff_train_steps, (m,), generator=generator, dtype=torch.int64),
            "eps": torch.randn(m, c.token_dim, generator=generator, dtype=torch.float32),
        }

    def generation_conditions(self, embeds, valid, tokens, visible):
        """Prefix + visible tokens -> per-position conditions z [B, seq, dec_dim]."""
        x_enc = self.enc(tokens, visible, self.c.grid)
        h = self.proj_in_fc2(F.silu(self.proj_in_fc1(x_enc)))
        lp, lv = embeds.size(1), h.size(1)
        full_valid = torch.cat([valid, valid.new_ones((h.size(0), lv))], 1)
        out = self.llm(torch.cat([embeds, h], 1), full_valid).narrow(1, lp, lv)
        return self.dec(x_enc + self.proj_out(out), visible)

    def generation_loss(self, embeds, valid, images, noise):
        c = self.c
        dev = images.device
        b, seq, mul = images.size(0), c.seq_len, c.diff_batch_mul
        mask = noise["mask"].to(dev)
        tokens = patchify(images, c.patch)
        z = self.generation_conditions(embeds, valid, tokens, mask.logical_not())
        x0 = tokens.reshape(b * seq, -1).repeat(mul, 1).detach()
        zz = z.reshape(b * seq, -1).repeat(mul, 1)
        w = mask.reshape(-1).to(torch.float32).repeat(mul)
        return diffusion_loss(self.diff, self.sqrt_ab, self.sqrt_one_minus_ab, x0, zz,
                              noise["t"].to(dev), noise["eps"].to(dev), w)

    def recon_loss(self, images, pre_ids, post_ids, noise):
        """The RecA reconstruction loss: generation conditioned on [pre, understanding(images), post]."""
        embeds, valid = self.assemble_prefix(pre_ids, self.understanding_embed(images), post_ids)
        return self.generation_loss(embeds, valid, images, noise)

    def i2t_loss(self, images, pre_ids, post_ids, captions):
        """Captioning cross-entropy (captions right-padded with PAD, ending in <eos>)."""
        embeds, valid = self.assemble_prefix(pre_ids, self.understanding_embed(images), post_ids)
        lp, lc = embeds.size(1), captions.size(1)
        embeds = torch.cat([embeds, self.llm.embed(captions)], 1)
        valid = torch.cat([valid, captions.ne(PAD)], 1)
        hidden = self.llm(embeds, valid).narrow(1, lp - 1, lc)
        logits = self.llm.logits(hidden)
        return F.cross_entropy(logits.reshape(-1, logits.size(-1)), captions.reshape(-1),
                               ignore_index=PAD)

    def t2i_loss(self, pre_ids, post_ids, images, noise):
        embeds, valid = self.assemble_prefix(pre_ids, None, post_ids)
        return self.generation_loss(embeds, valid, images, noise)


# ----------------------------------------------------------------------------
# Recorded batches (reca/batch.cc EncodeStepBatches, `reca-train --dump_batches`)
# ----------------------------------------------------------------------------

_SOURCE_FIELDS = {
    "recon": ("images", "pre", "post"),
    "i2t": ("images", "pre", "post", "captions"),
    "t2i": ("images", "pre", "post"),
}


def recorded_steps(path_or_tensors):
    """Decodes "<step>.<source>.<j>.<field>" tensors (a file path or a dict).

    Returns a list over steps of {"recon": [...], "i2t": [...], "t2i": [...]},
    each a list of {"images", "pre", "post"[, "captions"]} tensor dicts; the
    same walk as DecodeStepBatches (steps and batches numbered from 0 without gaps).
    """
    if isinstance(path_or_tensors, (str, os.PathLike)):
        tensors, _ = safetensors_io.load_file(path_or_tensors)
        name = str(path_or_tensors)
    else:
        tensors, name = path_or_tensors, "<tensors>"
    steps = []
    s = 0
    while True:
        step = {src: [] for src in _SOURCE_FIELDS}
        for src, fields in _SOURCE_FIELDS.items():
            j = 0
            while True:
                k = "%d.%s.%d." % (s, src, j)
                if k + "images" not in tensors:
                    break
                missing = [f for f in fields if k + f not in tensors]
                if missing:
                    raise ValueError("%s: %s%s missing" % (name, k, "/".join(missing)))
                step[src].append({f: tensors[k + f] for f in fields})
                j += 1
        if not any(step.values()):
            break
        steps.append(step)
        s += 1
    if not steps:
        raise ValueError("%s: no recorded steps" % name)
    return steps
