#!/usr/bin/python3
"""Writes the seed corpora under fuzz/corpus/<fuzzer>/ (checked in; rerun after
changing this script). Small valid inputs plus near-valid ones (one field or
byte wrong), so the fuzzers start deep in each parser. Regression inputs for
fixed bugs live next to them as regress-*.bin and are not written here."""
import io
import json
import os
import struct
import tarfile
import zlib

from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def put(fuzzer, name, data):
    d = os.path.join(ROOT, fuzzer)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- job specs -------------------------------------------------------------
def job_specs():
    for name in sorted(os.listdir(os.path.join(REPO, "examples"))):
        if name.endswith(".yaml"):
            with open(os.path.join(REPO, "examples", name), "rb") as f:
                put("job_spec", name, f.read())
    put("job_spec", "empty.yaml", "")
    full = {
        "name": "j", "seed": 7, "steps": 20, "batch_per_rank": 4,
        "model": {"family": "mar", "preset": "tiny", "config": ["depth=2"], "frozen": ["auto"]},
        "data": {"sources": [
            {"type": "webdataset", "task": "recon", "shards": ["data/shard-{0000..0003}.tar"]},
            {"type": "image_folder", "task": "i2t", "manifest": "m.jsonl"}],
            "resize": "stretch"},
        "reca": {"recon_weight": 1.0, "condition_blur": 0.5},
        "optimizer": {"lr": 1e-3, "min_lr": 1e-5},
        "schedule": {"warmup_steps": 2, "decay": "constant"},
        "checkpoint": {"every": 5, "keep": 2, "keep_best": "-shapes/loss"},
        "eval": {"suites": ["shapes"], "every_n_checkpoints": 1},
        "samples": {"every": 0, "count": 0},
    }
    put("job_spec", "full.json", json.dumps(full, indent=1))
    put("job_spec", "torchscript.yaml",
        "model: {family: torchscript, module: m.pt}\nsteps: 3\n")
    put("job_spec", "bad_lr.yaml", "optimizer:\n  lr: -1\n")
    put("job_spec", "unknown_field.yaml", "steps: 3\noptimiser: {lr: 1}\n")
    put("job_spec", "wrong_type.yaml", "steps: [1, 2]\nseed: 18446744073709551616\n")
    put("job_spec", "scalars.yaml",
        "name: 'quoted'\nreca: {cfg_drop: .nan, condition_blur: .inf}\nseed: ~\nsteps: 0x10\n")
    put("job_spec", "anchors.yaml",
        "base: &b {lr: 0.1}\noptimizer: *b\ndata: {sources: [{<<: *b}]}\n")
    put("job_spec", "dup_key.yaml", "steps: 3\nsteps: 4\n")
    # Issue 22's bounds, from what a reflection client sent: an empty mapping
    # (every default), integers at and past int64's end, a 100 KB name, a
    # list over its item limit, a product of in-range fields over its bound.
    put("job_spec", "empty_mapping.json", "{}")
    put("job_spec", "steps_int64_max.yaml", "steps: 9223372036854775807\n")
    put("job_spec", "int_past_int64.json",
        '{"steps": 18446744073709551615, "schedule": {"warmup_steps": 18446744073709551615}}')
    put("job_spec", "bounds_at_max.yaml",
        "steps: 100000000\nlog_every: 100000000\nbatch_per_rank: 65536\n"
        "checkpoint: {every: 100000000, keep: 1000000}\nmax_restarts: 1000\n")
    put("job_spec", "long_name.yaml", "name: " + "x" * (100 << 10) + "\n")
    put("job_spec", "many_frozen.yaml",
        "model: {frozen: [" + ", ".join("m%d" % i for i in range(257)) + "]}\n")
    put("job_spec", "samples_per_step.yaml",
        "batch_per_rank: 65536\ndata: {sources: [{repeat: 10}, {task: i2t, repeat: 10}]}\n")


# --- safetensors ------------------------------------------------------------
def safetensors(tensors, metadata=None, pad=True, header_override=None):
    header, data = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header if header_override is None else header_override, separators=(",", ":"))
    if pad:
        text += " " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text.encode() + data


def safetensors_seeds():
    f32 = struct.pack("<6f", *range(6))
    put("safetensors", "valid.safetensors", safetensors(
        {"w": ("F32", [2, 3], f32), "b": ("BF16", [2], b"\x80\x3f\x00\x40"),
         "i": ("I64", [1], struct.pack("<q", -5)), "m": ("BOOL", [3], b"\x01\x00\x01")},
        metadata={"format": "pt", "step": "3"}))
    put("safetensors", "empty_tensor.safetensors", safetensors({"e": ("F16", [0, 4], b"")}))
    put("safetensors", "scalar.safetensors", safetensors({"s": ("F64", [], struct.pack("<d", 1.5))}))
    put("safetensors", "only_metadata.safetensors", safetensors({}, metadata={"a": "b"}))
    good = safetensors({"w": ("F32", [2, 3], f32)})
    put("safetensors", "truncated.safetensors", good[:-5])
    put("safetensors", "bad_dtype.safetensors", safetensors({"w": ("F8", [2], b"ab")}))
    put("safetensors", "overlap.safetensors", safetensors({}, header_override={
        "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
        "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}) + b"12345678")
    put("safetensors", "huge_dims.safetensors", safetensors({}, header_override={
        "a": {"dtype": "U8", "shape": [0, 4294967296, 4294967296], "data_offsets": [0, 0]}}))
    put("safetensors", "short.bin", b"\x10\x00\x00")


# --- images -------------------------------------------------------------------
def image(mode, size, fmt, **kw):
    w, h = size
    img = Image.new(mode, size)
    px = img.load()
    for y in range(h):
        for x in range(w):
            v = (x * 37 + y * 91) % 256
            if mode == "RGB":
                px[x, y] = (v, 255 - v, (x * y) % 256)
            elif mode == "RGBA":
                px[x, y] = (v, 255 - v, 128, (x * 16) % 256)
            elif mode == "LA":
                px[x, y] = (v, 200)
            elif mode == "P":
                px[x, y] = v % 16
            elif mode == "I;16":
                px[x, y] = v * 257
            else:
                px[x, y] = v
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def image_seeds():
    imgs = {
        "rgb.png": image("RGB", (9, 6), "PNG"),
        "grey.png": image("L", (5, 7), "PNG"),
        "rgba.png": image("RGBA", (6, 6), "PNG"),
        "la.png": image("LA", (4, 3), "PNG"),
        "palette.png": image("P", (8, 8), "PNG"),
        "grey16.png": image("I;16", (4, 4), "PNG"),
        "baseline.jpg": image("RGB", (16, 8), "JPEG", quality=80),
        "grey.jpg": image("L", (8, 16), "JPEG", quality=70),
        "progressive.jpg": image("RGB", (17, 9), "JPEG", quality=60, progressive=True),
        "subsampled.jpg": image("RGB", (20, 12), "JPEG", quality=50, subsampling=2),
    }
    # A PNG written by hand (RGB, 8-bit, filter type 0 on every row).
    w, h = 5, 5
    raw = b"".join(b"\x00" + bytes((x * 50) % 256 for x in range(w * 3)) for _ in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    imgs["manual.png"] = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + \
        png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b"")
    for name, data in imgs.items():
        put("image", name, data)
    put("image", "truncated.png", imgs["rgb.png"][:40])
    put("image", "truncated.jpg", imgs["baseline.jpg"][:200])
    put("image", "not_an_image.gif", b"GIF89a\x01\x00\x01\x00")
    return imgs


# --- tar shards ---------------------------------------------------------------
def tar_bytes(members, fmt=tarfile.USTAR_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                continue
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tar_seeds(imgs):
    png, jpg = imgs["grey.png"], imgs["grey.jpg"]
    put("tar", "ustar.tar", tar_bytes([
        ("./dir", None),
        ("dir/a.png", png), ("dir/a.txt", b" a cat \n"),
        ("b.jpg", jpg), ("b.json", json.dumps({"caption": "a dog"}).encode()),
        ("c.txt", b"no image")]))
    put("tar", "pax.tar", tar_bytes([
        ("p/" + "x" * 120 + ".png", png), ("p/" + "x" * 120 + ".json", b'{"text": "long"}')],
        fmt=tarfile.PAX_FORMAT))
    put("tar", "gnu.tar", tar_bytes([
        ("g/" + "y" * 110 + ".PNG", png), ("g/" + "y" * 110 + ".Txt", b"upper-case ext")],
        fmt=tarfile.GNU_FORMAT))
    good = tar_bytes([("k.png", png), ("k.txt", b"caption"), ("l.jpg", jpg)])
    put("tar", "truncated_member.tar", good[:512 + 100])
    put("tar", "partial_header.tar", good[:300])
    bad = bytearray(good)
    bad[148:156] = b"0000000\x00"  # wrong checksum
    put("tar", "bad_checksum.tar", bytes(bad))
    put("tar", "bad_json.tar", tar_bytes([("m.png", png), ("m.json", b'{"caption": 3}')]))
    put("tar", "corrupt_image.tar", tar_bytes([("n.png", png[:30])]))


# --- checkpoint manifests -------------------------------------------------------
def manifest_seeds():
    sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    good = {"format": "reca-checkpoint/1", "step": 100, "files": [
        {"name": "model.safetensors", "size": 1234, "sha256": sha},
        {"name": "optim.pt", "size": 0, "sha256": sha},
        {"name": "spec.json", "size": 77, "sha256": sha}]}
    put("manifest", "valid.json", json.dumps(good, indent=2))
    put("manifest", "empty_files.json", json.dumps({"format": "reca-checkpoint/1", "step": 0, "files": []}))
    for i, (key, value) in enumerate([("name", "../escape"), ("name", "MANIFEST.json"), ("name", "a/b"),
                                      ("size", -1), ("sha256", sha.upper()), ("name", "\u00e9t\u00e9")]):
        m = json.loads(json.dumps(good))
        m["files"][0][key] = value
        put("manifest", "near_%d.json" % i, json.dumps(m))
    m = json.loads(json.dumps(good))
    m["files"].append(dict(m["files"][0]))
    put("manifest", "duplicate.json", json.dumps(m))
    put("manifest", "wrong_format.json", json.dumps(dict(good, format="reca-checkpoint/2")))
    put("manifest", "big_step.json", json.dumps(dict(good, step=18446744073709551615)))
    put("manifest", "not_json.json", "{\"format\": ")


if __name__ == "__main__":
    job_specs()
    safetensors_seeds()
    imgs = image_seeds()
    tar_seeds(imgs)
    manifest_seeds()
