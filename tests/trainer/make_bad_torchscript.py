"""Writes TorchScript modules that break tools/export_torchscript.py's contract,
for tests/trainer/trainer_process_test.sh:

    make_bad_torchscript.py OUT_DIR VOCAB_SIZE REPO_ROOT

  no_i2t.pt        lacks the method i2t_loss
  flat_visual.pt   understanding_embed returns [B, V*D] instead of [B, V, D]
  not_a_module.pt  random bytes
"""
import os
import sys
from typing import Dict, List

import torch

out, vocab, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, os.path.join(root, "tools"))
import export_torchscript as ex  # noqa: E402


class NoI2t(torch.nn.Module):
    image_size: int
    max_text_tokens: int

    def __init__(self):
        super().__init__()
        self.image_size = 32
        self.max_text_tokens = 40
        self.inner = ex.ExampleUmm(vocab)

    @torch.jit.export
    def understanding_embed(self, images: torch.Tensor) -> torch.Tensor:
        return self.inner.understanding_embed(images)

    @torch.jit.export
    def embed_text(self, ids: torch.Tensor) -> torch.Tensor:
        return self.inner.embed_text(ids)

    @torch.jit.export
    def noise_shapes(self) -> Dict[str, List[int]]:
        return self.inner.noise_shapes()

    @torch.jit.export
    def generation_loss(self, embeds: torch.Tensor, valid: torch.Tensor, images: torch.Tensor,
                        noise: Dict[str, torch.Tensor]) -> torch.Tensor:
        return self.inner.generation_loss(embeds, valid, images, noise)

    @torch.jit.export
    def generate(self, embeds: torch.Tensor, valid: torch.Tensor, uncond_embeds: torch.Tensor,
                 uncond_valid: torch.Tensor, noise: Dict[str, torch.Tensor], cfg: float,
                 steps: int) -> torch.Tensor:
        return self.inner.generate(embeds, valid, uncond_embeds, uncond_valid, noise, cfg, steps)


class FlatVisual(ex.ExampleUmm):
    @torch.jit.export
    def understanding_embed(self, images: torch.Tensor) -> torch.Tensor:
        view = torch.nn.functional.avg_pool2d(images, self.image_size // self.und_image_size)
        return (self.und_proj(ex.patchify(view, self.patch)) + self.und_pos).flatten(1)


torch.jit.script(NoI2t()).save(os.path.join(out, "no_i2t.pt"))
torch.jit.script(FlatVisual(vocab)).save(os.path.join(out, "flat_visual.pt"))
with open(os.path.join(out, "not_a_module.pt"), "wb") as f:
    f.write(os.urandom(4096))
print("wrote no_i2t.pt, flat_visual.pt, not_a_module.pt to", out)
