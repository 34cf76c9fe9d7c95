"""The Python peer of the training-speed benchmark: the same model (the
family in the weights' metadata: bench/python/reca_mar.py or reca_flow.py,
with the family's default frozen modules, as reca-train's model.frozen: auto),
the same initial weights and recorded batches as
`reca-train --batches_file`, the same step (noise sampling, forward/backward
over every batch of the step with gradient accumulation, clipping, AdamW with
no decay on 1-D parameters, warm-up + cosine LR), timed the same way (the
first step excluded).
"""
import argparse
import contextlib
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reca_flow  # noqa: E402
import reca_mar  # noqa: E402


def lr_at(step, lr, warmup, total):
    if step < warmup:
        return lr * (step + 1) / warmup
    span = max(1, total - warmup)
    progress = min(1.0, (step - warmup) / span)
    return 0.5 * lr * (1 + math.cos(math.pi * progress))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True)
    ap.add_argument("--batches", required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--threads", type=int, required=True,
                    help="torch intra-op threads, as reca-train --threads")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA), as reca-train --bf16")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)

    model = reca_flow.load_model(args.init).to(dev)
    model.train()
    frozen = reca_flow.DEFAULT_FROZEN.get(model.c.to_map()["family"], ())
    for name, p in model.named_parameters():
        if name.split(".")[0] in frozen:
            p.requires_grad_(False)
    steps = [{k: [{n: t.to(dev) for n, t in b.items()} for b in v] for k, v in s.items()}
             for s in reca_mar.recorded_steps(args.batches)]

    def on_device(noise):
        return {k: v.to(dev) for k, v in noise.items()}

    def autocast():
        if not args.bf16:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=torch.bfloat16)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()
    trained = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trained if p.dim() >= 2]
    no_decay = [p for p in trained if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.02},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    params = decay + no_decay
    warmup = (args.steps + 99) // 100
    timed, samples = 0.0, 0
    for step in range(args.steps):
        t0 = time.perf_counter()
        data = steps[step % len(steps)]
        gen = torch.Generator().manual_seed(args.seed * 1000003 + step)
        n_batches = len(data["recon"]) + len(data["i2t"]) + len(data["t2i"])
        n_samples = 0
        for b in data["recon"]:
            noise = on_device(model.sample_generation_noise(b["images"].shape[0], gen))
            with autocast():
                embeds, valid = model.assemble_prefix(b["pre"], model.understanding_embed(b["images"]),
                                                      b["post"])
                loss = model.generation_loss(embeds, valid, b["images"], noise)
            (loss / n_batches).backward()
            loss.item()
            n_samples += b["images"].shape[0]
        for b in data["i2t"]:
            with autocast():
                loss = model.i2t_loss(b["images"], b["pre"], b["post"], b["captions"])
            (loss / n_batches).backward()
            loss.item()
            n_samples += b["images"].shape[0]
        for b in data["t2i"]:
            noise = on_device(model.sample_generation_noise(b["images"].shape[0], gen))
            with autocast():
                loss = model.t2i_loss(b["pre"], b["post"], b["images"], noise)
            (loss / n_batches).backward()
            loss.item()
            n_samples += b["images"].shape[0]
        norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
        if math.isfinite(float(norm)):
            for g in opt.param_groups:
                g["lr"] = lr_at(step, args.lr, warmup, args.steps)
            opt.step()
        opt.zero_grad()
        sync()
        dt = time.perf_counter() - t0
        if step > 0:
            timed += dt
            samples += n_samples
    print("python_samples_per_second %.6g" % (samples / timed))
    print("python_ms_per_step %.6g" % (1e3 * timed / (args.steps - 1)))


if __name__ == "__main__":
    main()
