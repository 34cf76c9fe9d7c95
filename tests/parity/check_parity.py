"""Python parity of a model family (the second half of tests/parity/parity_test.sh).

Reads what reca-parity-dump wrote (weights.safetensors, inputs.safetensors,
expected.safetensors), recomputes the three RecA losses and their gradients
with bench/python/reca_mar.py or reca_flow.py (the family in the weights'
metadata), and compares every tensor:

    relative error = max|python - c++| / max(max|c++|, 1e-12)  <= 1e-5

It also checks that bench/python/safetensors_io.py reads the C++-written files
exactly (every dtype; re-encoding reproduces the C++ bytes) and rejects
corrupted files. Prints the worst tensors and "N passed, M failed"; exits 1 on
any failure.

    /usr/bin/python3 tests/parity/check_parity.py --dir=OUT [--python_path=bench/python] [--threads=1]
"""

import argparse
import json
import math
import os
import struct
import sys
import time

TOLERANCE = 1e-5


class Checks:
    def __init__(self):
        self.rows = []  # (group, name, max_abs_diff, max_ref, rel, ok, note)

    def tensor(self, group, name, got, want):
        import torch

        if got is None:
            self.fail(group, name, "no Python value (expected a C++ value)")
            return
        if tuple(got.shape) != tuple(want.shape):
            self.fail(group, name, "shape %s != %s" % (list(got.shape), list(want.shape)))
            return
        g = got.detach().to(torch.float64)
        w = want.detach().to(torch.float64)
        diff = (g - w).abs().max().item() if w.numel() else 0.0
        ref = w.abs().max().item() if w.numel() else 0.0
        rel = diff / max(ref, 1e-12)
        ok = rel <= TOLERANCE and diff == diff  # NaN fails
        self.rows.append((group, name, diff, ref, rel, ok, ""))

    def check(self, group, name, ok, note=""):
        self.rows.append((group, name, None, None, None, bool(ok), note))

    def fail(self, group, name, note):
        self.check(group, name, False, note)

    def report(self):
        numeric = [r for r in self.rows if r[4] is not None]
        print("checks:")
        for r in self.rows:
            if r[4] is None:
                print("  %-4s %-6s %s" % ("ok" if r[5] else "FAIL", r[0], r[1]))
        print("\nworst relative error per group (tolerance %.0e):" % TOLERANCE)
        print("  %-8s %6s %6s  %-44s %10s %10s %10s" % ("group", "count", "exact", "worst tensor",
                                                           "max|diff|", "max|c++|", "rel"))
        for group in sorted({r[0] for r in numeric}):
            rows = [r for r in numeric if r[0] == group]
            w = max(rows, key=lambda r: r[4])
            exact = sum(1 for r in rows if r[2] == 0)
            print("  %-8s %6d %6d  %-44s %10.3e %10.3e %10.3e" % (group, len(rows), exact, w[1][-44:],
                                                                   w[2], w[3], w[4]))
        print("\nworst 12 tensors overall:")
        for r in sorted(numeric, key=lambda r: -r[4])[:12]:
            print("  %-8s %-52s rel %.3e  (max|diff| %.3e, max|c++| %.3e)%s"
                  % (r[0], r[1][-52:], r[4], r[2], r[3], "" if r[5] else "  FAIL"))
        failed = [r for r in self.rows if not r[5]]
        if failed:
            print("\nfailures:")
            for r in failed:
                extra = r[6] if r[4] is None else "rel %.3e > %.0e" % (r[4], TOLERANCE)
                print("  FAIL %s %s: %s" % (r[0], r[1], extra))
        passed = len(self.rows) - len(failed)
        print("\n%d passed, %d failed" % (passed, len(failed)))
        return not failed


def check_reader(checks, sio, directory):
    """safetensors_io against the C++ writer."""
    import torch

    path = os.path.join(directory, "weights.safetensors")
    with open(path, "rb") as f:
        raw = f.read()
    tensors, meta = sio.load_file(path)
    # The C++ writer's exact bytes come back from the Python writer: names,
    # dtypes, shapes, offsets, metadata and data were all read exactly.
    checks.check("io", "weights.safetensors re-encodes byte-identically",
                 sio.encode(tensors, meta) == raw, "Python encode(load(file)) != file bytes")
    # Independently of the reader: each tensor's bytes are the file's slice.
    (n,) = struct.unpack_from("<Q", raw, 0)
    header = json.loads(raw[8:8 + n])
    ok = all(sio._tensor_bytes(tensors[k]) == raw[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]
             for k, v in header.items() if k != "__metadata__")
    checks.check("io", "weights tensor bytes equal the file slices", ok)
    checks.check("io", "weights metadata is the model config",
                 meta.get("family") in ("mar", "flow", "maskgit") and "tokenizer_fingerprint" in meta, str(meta))

    inputs, _ = sio.load_file(os.path.join(directory, "inputs.safetensors"))
    base = torch.arange(-3, 3, dtype=torch.float64).view(2, 3) * 1.5
    want = {
        "F64": base,
        "F32": base.to(torch.float32),
        "F16": base.to(torch.float16),
        "BF16": base.to(torch.bfloat16),
        "I64": torch.arange(-3, 3, dtype=torch.int64).view(2, 3) * 1000000007,
        "I32": torch.arange(-3, 3, dtype=torch.int32).view(2, 3) * 100003,
        "I16": torch.arange(-3, 3, dtype=torch.int16).view(2, 3) * 1001,
        "I8": torch.arange(-3, 3, dtype=torch.int8).view(2, 3) * 40,
        "U8": torch.arange(0, 6, dtype=torch.uint8).view(2, 3) * 50,
        "BOOL": torch.arange(0, 6).view(2, 3).remainder(2).eq(0),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 4, dtype=torch.float32),
    }
    for k, w in want.items():
        got = inputs.get("dtype_check." + k)
        ok = (got is not None and got.dtype == w.dtype and tuple(got.shape) == tuple(w.shape)
              and torch.equal(got, w))
        checks.check("io", "dtype_check.%s read exactly" % k, ok,
                     "got %r" % (got,))

    # The reader validates what it reads.
    def rejects(name, data):
        try:
            sio.decode(data, name)
        except sio.SafetensorsError:
            return True
        return False

    small = sio.encode({"a": torch.arange(4, dtype=torch.float32), "b": torch.ones(2, dtype=torch.int64)},
                       {"k": "v"})
    (hn,) = struct.unpack_from("<Q", small, 0)
    hdr = small[8:8 + hn]

    def with_header(text):
        text = text + b" " * ((8 - len(text) % 8) % 8)
        return struct.pack("<Q", len(text)) + text + small[8 + hn:]

    checks.check("io", "reader round-trips a small file", not rejects("ok", small))
    checks.check("io", "reader rejects truncated data", rejects("truncated", small[:-1]))
    checks.check("io", "reader rejects a too-long header length",
                 rejects("hlen", struct.pack("<Q", len(small)) + small[8:]))
    checks.check("io", "reader rejects offsets outside the file",
                 rejects("outside", with_header(hdr.replace(b"[16,32]", b"[16,40]"))))
    checks.check("io", "reader rejects a size/shape mismatch",
                 rejects("mismatch", with_header(hdr.replace(b"[0,16]", b"[0,12]"))))
    checks.check("io", "reader rejects overlapping ranges",
                 rejects("overlap", with_header(hdr.replace(b'"shape":[2]', b'"shape":[4]')
                                                .replace(b"[16,32]", b"[0,32]"))))
    checks.check("io", "reader rejects an unknown dtype",
                 rejects("dtype", with_header(hdr.replace(b'"I64"', b'"C64"'))))


def run_losses(checks, reca_mar, reca_flow, directory):
    import torch

    from safetensors_io import load_file

    inputs, _ = load_file(os.path.join(directory, "inputs.safetensors"))
    expected, _ = load_file(os.path.join(directory, "expected.safetensors"))
    model = reca_flow.load_model(os.path.join(directory, "weights.safetensors"))
    family = model.c.to_map()["family"]
    print("family: %s (%s)" % (family, ", ".join("%s=%s" % kv for kv in sorted(model.c.to_map().items())
                                                 if kv[0] in ("name", "meta_queries", "und_image_size"))))
    checks.check("model", "weights load with strict name/shape matching", True)
    params = dict(model.named_parameters())
    if family == "mar":
        # ... and MarModel.save_safetensors writes what the C++ SaveModel wrote.
        resaved = os.path.join(directory, "python_weights.safetensors")
        model.save_safetensors(resaved)
        with open(resaved, "rb") as a, open(os.path.join(directory, "weights.safetensors"), "rb") as b:
            checks.check("io", "MarModel.save_safetensors reproduces SaveModel's bytes", a.read() == b.read())

    # The batches exercise padding: left-padded prompts of different lengths
    # (recon: a text-dropped sample and templates of several lengths) and
    # right-padded captions.
    pads = inputs["recon.post"].eq(reca_mar.PAD).sum(1)
    checks.check("inputs", "recon prompts have different lengths (left padding)",
                 int(pads.min()) == 0 and int(pads.max()) > 0, str(pads.tolist()))
    cap_pads = inputs["i2t.captions"].eq(reca_mar.PAD).sum(1)
    checks.check("inputs", "i2t captions have different lengths (right padding)",
                 int(cap_pads.min()) == 0 and int(cap_pads.max()) > 0, str(cap_pads.tolist()))

    def noise(src):
        p = "%s.noise." % src
        return {k[len(p):]: v for k, v in inputs.items() if k.startswith(p)}

    def recon():
        images = inputs["recon.images"]
        visual = model.understanding_embed(images)
        checks.tensor("recon", "recon.visual", visual, expected["recon.visual"])
        embeds, valid = model.assemble_prefix(inputs["recon.pre"], visual, inputs["recon.post"])
        return model.generation_loss(embeds, valid, images, noise("recon"))

    def i2t():
        checks.tensor("i2t", "i2t.visual", model.understanding_embed(inputs["i2t.images"]),
                      expected["i2t.visual"])
        return model.i2t_loss(inputs["i2t.images"], inputs["i2t.pre"], inputs["i2t.post"],
                              inputs["i2t.captions"])

    def t2i():
        return model.t2i_loss(inputs["t2i.pre"], inputs["t2i.post"], inputs["t2i.images"], noise("t2i"))

    for src, fn in (("recon", recon), ("i2t", i2t), ("t2i", t2i)):
        for p in params.values():
            p.grad = None
        loss = fn()
        loss.backward()
        checks.tensor(src, src + ".loss", loss, expected[src + ".loss"])
        prefix = src + ".grad."
        want = {k[len(prefix):] for k in expected if k.startswith(prefix)}
        have = {k for k, p in params.items() if p.grad is not None}
        checks.check(src, src + ": same parameters receive gradients", want == have,
                     "only C++: %s; only Python: %s" % (sorted(want - have), sorted(have - want)))
        for name in sorted(want):
            got = params[name].grad if name in params else None
            checks.tensor(src, prefix + name, got, expected[prefix + name])

    if family == "mar":
        n = check_mar_noise(checks, model, params, expected)
    elif family == "flow":
        n = check_flow_noise(checks, model, params)
    else:
        n = check_maskgit_noise(checks, model, inputs)
    # C++ noise has the same keys, shapes (past the batch) and dtypes as Python's.
    cn = noise("recon")
    checks.check("model", "C++ noise layout matches", set(cn) == set(n) and all(
        cn[k].dtype == n[k].dtype and cn[k].shape[1:] == n[k].shape[1:] for k in cn))

    # recorded_steps decodes the EncodeStepBatches layout.
    rec = {}
    for src in ("recon", "i2t", "t2i"):
        for f in ("images", "pre", "post", "captions"):
            if "%s.%s" % (src, f) in inputs:
                rec["0.%s.0.%s" % (src, f)] = inputs["%s.%s" % (src, f)]
                rec["1.%s.0.%s" % (src, f)] = inputs["%s.%s" % (src, f)]
    steps = reca_mar.recorded_steps(rec)
    checks.check("model", "recorded_steps decodes steps/sources/fields",
                 len(steps) == 2 and all(len(s[k]) == 1 for s in steps for k in ("recon", "i2t", "t2i"))
                 and torch.equal(steps[1]["i2t"][0]["captions"], inputs["i2t.captions"]))


def check_mar_noise(checks, model, params, expected):
    """The mar-specific checks; returns a Python noise sample."""
    import torch

    # Parity through the diffusion head is only meaningful when its zero-initialised
    # layers have moved (the dump trains a few steps first).
    for name in ("diff.blocks.0.ada.weight", "diff.final_ada.weight", "diff.final_linear.weight"):
        checks.check("model", "%s is non-zero" % name, params[name].abs().max().item() > 1e-3)
    g = expected["recon.grad.diff.blocks.0.fc1.weight"]
    checks.check("model", "gradient through the AdaLN-gated MLP is non-zero", g.abs().max().item() > 0)

    # sample_generation_noise semantics (not the same random stream as C++).
    gen = torch.Generator().manual_seed(0)
    c = model.c
    for _ in range(20):
        n = model.sample_generation_noise(3, gen)
        per_row = n["mask"].sum(1)
        m = 3 * c.seq_len * c.diff_batch_mul
        ok = (n["mask"].dtype == torch.bool and tuple(n["mask"].shape) == (3, c.seq_len)
              and bool((per_row == per_row[0]).all())
              and math.ceil(c.mask_ratio_min * c.seq_len) <= int(per_row[0]) <= c.seq_len
              and tuple(n["t"].shape) == (m,) and n["t"].dtype == torch.int64
              and 0 <= int(n["t"].min()) and int(n["t"].max()) < c.diff_train_steps
              and tuple(n["eps"].shape) == (m, c.token_dim))
        if not ok:
            break
    checks.check("model", "sample_generation_noise shapes and mask counts", ok)
    return n



def check_flow_noise(checks, model, params):
    """The flow-specific checks; returns a Python noise sample."""
    import torch

    # The warm-up steps moved the generator (its output layer is not at its initial values).
    checks.check("model", "gen.x_out.weight is non-zero", params["gen.x_out.weight"].abs().max().item() > 1e-3)
    gen = torch.Generator().manual_seed(0)
    n = model.sample_generation_noise(4000, gen)
    t = n["t"]
    ok = (tuple(t.shape) == (4000,) and float(t.min()) > 0 and float(t.max()) < 1
          and tuple(n["eps"].shape) == (4000, model.c.seq_len, model.c.token_dim))
    if model.c.timestep_shift == 1.0:
        ok = ok and abs(float(t.mean()) - 0.5) < 0.02
    checks.check("model", "sample_generation_noise: logit-normal t in (0, 1), eps shape", ok)
    return n


def check_maskgit_noise(checks, model, inputs):
    """The maskgit-specific checks; returns a Python noise sample."""
    import torch

    # The codebook came with the weights and tokenizes the inputs: every image
    # is close to its VQ reconstruction.
    images = inputs["recon.images"]
    mse = float((model.vq.decode(model.vq.encode(images)) - images).pow(2).mean())
    checks.check("model", "VQ codebook round trip MSE %.4f < 0.01" % mse, mse < 0.01)
    gen = torch.Generator().manual_seed(0)
    n = model.sample_generation_noise(2000, gen)
    frac = float(n["mask"].sum(1).double().mean()) / model.c.seq_len
    checks.check("model", "cosine mask schedule: mean masked fraction %.3f ~ 2/pi" % frac,
                 abs(frac - 2 / math.pi - 0.5 / model.c.seq_len) < 0.02 and bool(n["mask"].sum(1).min() >= 1))
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True, help="reca-parity-dump --out_dir")
    ap.add_argument("--python_path", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                          "bench", "python"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    start = time.time()
    sys.path.insert(0, os.path.abspath(args.python_path))
    import torch

    torch.set_num_threads(args.threads)
    import reca_flow
    import reca_mar
    import safetensors_io

    checks = Checks()
    try:
        check_reader(checks, safetensors_io, args.dir)
        run_losses(checks, reca_mar, reca_flow, args.dir)
    except Exception as e:  # report, then fail
        import traceback

        traceback.print_exc()
        checks.fail("error", type(e).__name__, str(e))
    ok = checks.report()
    print("(%.1f s in Python, torch %s, %d thread(s))" % (time.time() - start, torch.__version__,
                                                        torch.get_num_threads()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
