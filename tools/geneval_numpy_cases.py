"""Writes reca/eval/geneval_rules_testdata/numpy_cases.json: GenEval verdicts
computed by numpy itself, for geneval_rules_test to replay without Python.

    /usr/bin/python3 tools/geneval_numpy_cases.py [--out=PATH] [--seed=N]

Upstream (djghosh13/geneval, evaluation/evaluate_images.py) filters and judges
mmdet's float32 detection arrays with numpy; its environment.yml pins numpy
1.23.1. This script runs the same numpy operations on float32 arrays (the
ones evaluate_image and relative_position / compute_iou use: argsort and its
reversal, the threshold comparison, the slice, the IoU of float32 scalars,
mean / diff / norm of float32 boxes) and records what they give:

  order     score arrays (many ties, 1 to 257 long; some built to reach
            numpy's heapsort fallback) -> np.argsort(s)[::-1]
  filter    detections of one class + options -> the indices upstream keeps
  position  box pairs near the +-0.5 borders and the dead zone -> relations
  iou       box pairs -> the IoU (float64), exactly

Cases where float64 arithmetic (or a stable sort) would give another answer
are marked, and the test checks that there are enough of them. It needs a
numpy older than 1.25 (no SIMD argsort dispatch; value-based casting as in
1.23): Debian 12's python3-numpy (1.24.2) is one.
"""

import argparse
import json
import os
import random

import numpy as np

F32 = np.float32


def upstream_order(scores):
    """np.argsort(scores)[::-1] on a float32 array, as a list of ints."""
    return np.argsort(np.asarray(scores, dtype=F32))[::-1].tolist()


def upstream_iou(box_a, box_b):
    """The IoU with the +1 pixel convention, on rows of a float32 array."""

    def area(box):
        return max(box[2] - box[0] + 1, 0) * max(box[3] - box[1] + 1, 0)

    inter = area([max(box_a[0], box_b[0]), max(box_a[1], box_b[1]),
                  min(box_a[2], box_b[2]), min(box_a[3], box_b[3])])
    union = area(box_a) + area(box_b) - inter
    return inter / union if union else 0


def upstream_filter(dets, threshold, max_objects, max_overlap):
    """The indices evaluate_image keeps of one class's (N, 5) float32 array."""
    ordering = np.argsort(dets[:, 4])[::-1]
    ordering = ordering[dets[ordering, 4] > threshold]
    ordering = ordering[:max_objects].tolist()
    kept = []
    while ordering:
        top = ordering.pop(0)
        kept.append(top)
        ordering = [i for i in ordering
                    if max_overlap == 1 or upstream_iou(dets[top], dets[i]) < max_overlap]
    return kept


def float64_stable_filter(dets, threshold, max_objects, max_overlap):
    """The same in float64 with a stable sort (what reca did before)."""
    d = dets.astype(np.float64)
    ordering = sorted(range(len(d)), key=lambda i: -d[i, 4])
    ordering = [i for i in ordering if d[i, 4] > threshold][:max_objects]
    kept = []
    while ordering:
        top = ordering.pop(0)
        kept.append(top)
        ordering = [i for i in ordering if max_overlap == 1 or upstream_iou(d[top], d[i]) < max_overlap]
    return kept


def relations(box_a, box_b, position_threshold, dtype):
    """relative_position's answer with the boxes in `dtype`."""
    boxes = np.array([box_a, box_b], dtype=dtype)[:, :4].reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    revised = np.maximum(np.abs(offset) - position_threshold * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return []
    dx, dy = revised / np.linalg.norm(offset)
    out = []
    if dx < -0.5:
        out.append("left of")
    if dx > 0.5:
        out.append("right of")
    if dy < -0.5:
        out.append("above")
    if dy > 0.5:
        out.append("below")
    return out


def introsort(n, less, stats):
    """numpy 1.23's argsort (aquicksort_), with `less` on indices; counts its
    heapsort fallbacks in stats["heapsort"]. Only to build and check the
    adversarial inputs below: numpy itself gives every expected answer."""
    a = list(range(n))

    def heapsort(lo, count):
        stats["heapsort"] += 1
        base = lo - 1

        def sift(i, size, item):
            j = i * 2
            while j <= size:
                if j < size and less(a[base + j], a[base + j + 1]):
                    j += 1
                if not less(item, a[base + j]):
                    break
                a[base + i] = a[base + j]
                i, j = j, j * 2
            a[base + i] = item

        for l in range(count >> 1, 0, -1):
            sift(l, count, a[base + l])
        while count > 1:
            item = a[base + count]
            a[base + count] = a[base + 1]
            count -= 1
            sift(1, count, item)

    stack = []
    lo, hi = 0, n - 1
    depth = (n.bit_length() - 1) * 2
    while True:
        if depth < 0:
            heapsort(lo, hi - lo + 1)
        else:
            while hi - lo > 15:
                mid = lo + ((hi - lo) >> 1)
                if less(a[mid], a[lo]):
                    a[mid], a[lo] = a[lo], a[mid]
                if less(a[hi], a[mid]):
                    a[hi], a[mid] = a[mid], a[hi]
                if less(a[mid], a[lo]):
                    a[mid], a[lo] = a[lo], a[mid]
                pivot = a[mid]
                i, j = lo, hi - 1
                a[mid], a[j] = a[j], a[mid]
                while True:
                    i += 1
                    while less(a[i], pivot):
                        i += 1
                    j -= 1
                    while less(pivot, a[j]):
                        j -= 1
                    if i >= j:
                        break
                    a[i], a[j] = a[j], a[i]
                a[i], a[hi - 1] = a[hi - 1], a[i]
                depth -= 1
                if i - lo < hi - i:
                    stack.append((i + 1, hi, depth))
                    hi = i - 1
                else:
                    stack.append((lo, i - 1, depth))
                    lo = i + 1
            for i in range(lo + 1, hi + 1):
                item, j = a[i], i
                while j > lo and less(item, a[j - 1]):
                    a[j] = a[j - 1]
                    j -= 1
                a[j] = item
        if not stack:
            return a
        lo, hi, depth = stack.pop()


def heapsort_inputs(n):
    """Scores that drive numpy's introsort into its heapsort fallback: McIlroy's
    adversary ("A killer adversary for quicksort", 1999) decides each value
    as late as it can, making every partition lopsided; the values halved
    (rounded down) add ties and still do."""
    gas = n
    val = [gas] * n
    state = {"solid": 0, "candidate": None}

    def less(x, y):
        if val[x] == gas and val[y] == gas:
            frozen = x if x == state["candidate"] else y
            val[frozen] = state["solid"]
            state["solid"] += 1
        if val[x] == gas:
            state["candidate"] = x
        elif val[y] == gas:
            state["candidate"] = y
        return val[x] < val[y]

    introsort(n, less, {"heapsort": 0})
    return [[f32(v / n) for v in val], [f32((v // 2) / n) for v in val]]


def f32(x):
    return float(F32(x))


def ulps(x, n):
    """x moved by n float32 steps."""
    x = F32(x)
    step = np.inf if n > 0 else -np.inf
    for _ in range(abs(n)):
        x = np.nextafter(x, F32(step))
    return float(x)


def order_cases(rng):
    cases = []
    lengths = list(range(1, 41)) + [48, 64, 100, 150, 257]
    for n in lengths:
        for _ in range(2):
            pool = [f32(rng.choice([0.3, 0.5, 0.75, 0.9, 0.95, 0.31, 0.99])) for _ in range(rng.randint(1, 4))]
            scores = [rng.choice(pool) for _ in range(n)]
            cases.append({"scores": scores, "order": upstream_order(scores)})
    # All equal, and sorted / reverse-sorted runs with ties.
    for n in [2, 5, 16, 17, 18, 33, 64, 129]:
        cases.append({"scores": [f32(0.5)] * n, "order": upstream_order([f32(0.5)] * n)})
        asc = [f32(0.3 + 0.05 * (i // 3)) for i in range(n)]
        cases.append({"scores": asc, "order": upstream_order(asc)})
        cases.append({"scores": asc[::-1], "order": upstream_order(asc[::-1])})
    for c in cases:
        c["heapsort"] = False
    for n in [64, 100, 200]:
        for scores in heapsort_inputs(n):
            v = np.asarray(scores, dtype=F32)
            stats = {"heapsort": 0}
            port = introsort(n, lambda x, y: v[x] < v[y], stats)
            assert port == np.argsort(v).tolist(), "the port is not numpy's argsort"
            assert stats["heapsort"] > 0, "the adversary did not reach the heapsort"
            cases.append({"scores": scores, "order": upstream_order(scores), "heapsort": True})
    for c in cases:
        stable = sorted(range(len(c["scores"])), key=lambda i: -c["scores"][i])
        c["differs_from_stable"] = c["order"] != stable
    return cases


def filter_cases(rng):
    cases = []
    t03, t09 = F32(0.3), F32(0.9)
    edge_scores = [float(t03), ulps(t03, 1), ulps(t03, -1), 0.3, float(t09), ulps(t09, 1), ulps(t09, -1), 0.9]
    for k in range(100):
        n = rng.randint(1, 20)
        pool = [f32(rng.random()) for _ in range(rng.randint(1, 6))] + edge_scores
        boxes = []
        for _ in range(n):
            # Quarter pixels (short to write); near copies below are not.
            x0 = rng.randint(0, 1600) / 4
            y0 = rng.randint(0, 1600) / 4
            w = rng.randint(4, 480) / 4
            h = rng.randint(4, 480) / 4
            if boxes and rng.random() < 0.4:  # a near copy of an earlier box
                b = rng.choice(boxes)
                x0 = ulps(b[0], rng.randint(-40, 40))
                y0 = ulps(b[1], rng.randint(-40, 40))
                w, h = f32(b[2] - b[0]), f32(b[3] - b[1])
            boxes.append([x0, y0, f32(x0 + w), f32(y0 + h), rng.choice(pool)])
        tag = rng.choice(["single_object", "two_object", "counting", "colors", "position"])
        threshold = rng.choice([0.3, 0.3, 0.5, 0.0])
        counting_threshold = rng.choice([0.9, 0.9, 0.7])
        max_objects = rng.choice([16, 16, 3, 1, 0])
        max_overlap = rng.choice([1.0, 1.0, 0.5, 0.3, 0.95, 0.0])
        dets = np.array(boxes, dtype=F32)
        thr = counting_threshold if tag == "counting" else threshold
        kept = upstream_filter(dets, thr, max_objects, max_overlap)
        cases.append({"tag": tag, "threshold": threshold, "counting_threshold": counting_threshold,
                      "max_objects": max_objects, "max_overlap": max_overlap,
                      "detections": [[float(v) for v in row] for row in dets], "kept": kept,
                      "float64_differs": kept != float64_stable_filter(dets, thr, max_objects, max_overlap)})
    # Exactly float32(threshold): not above it in float32 (above it in float64).
    for thr, tag in [(0.3, "single_object"), (0.9, "counting")]:
        scores = [f32(thr), ulps(thr, 1), ulps(thr, -1), f32(thr)]
        dets = np.array([[0, 0, 10, 10, s] for s in scores], dtype=F32)
        kept = upstream_filter(dets, thr, 16, 1.0)
        cases.append({"tag": tag, "threshold": 0.3, "counting_threshold": 0.9, "max_objects": 16,
                      "max_overlap": 1.0, "detections": [[float(v) for v in row] for row in dets],
                      "kept": kept, "float64_differs": kept != float64_stable_filter(dets, thr, 16, 1.0)})
    return cases


def position_cases(rng):
    """Box pairs whose dx or dy lies within a few float32 steps of +-0.5 or
    whose shrunk offset lies near 1e-3, plus ordinary ones."""
    cases = []
    differs = 0

    def add(a, b, pt):
        nonlocal differs
        a = [f32(v) for v in a]
        b = [f32(v) for v in b]
        want = relations(a + [1.0], b + [1.0], pt, F32)
        wide = relations(a + [1.0], b + [1.0], pt, np.float64)
        cases.append({"a": a, "b": b, "position_threshold": pt, "relations": want,
                      "float64_differs": want != wide})
        differs += want != wide

    border = 0
    for k in range(20000):
        if differs >= 200 and border >= 100:
            break
        pt = rng.choice([0.1, 0.1, 0.1, 0.05, 0.2])
        b = [rng.uniform(0, 500), rng.uniform(0, 500)]
        wb, hb = rng.uniform(2, 200), rng.uniform(2, 200)
        wa, ha = rng.uniform(2, 200), rng.uniform(2, 200)
        along_x = rng.random() < 0.5
        sign = rng.choice([-1, 1])
        # Solve (|o| - d) / sqrt(o^2 + p^2) = 0.5 for the offset o along the
        # decisive axis, d = pt * (extent sum), p the other axis's offset.
        d = pt * ((wa + wb) if along_x else (ha + hb))
        p = rng.uniform(-300, 300)
        o = (2 * d + np.sqrt(d * d + 0.75 * p * p)) / 1.5
        if rng.random() < 0.1:  # the dead zone's edge instead
            o, p = d + 1e-3, rng.uniform(-1e-4, 1e-4)
        ox, oy = (sign * o, p) if along_x else (p, sign * o)
        cb = [b[0] + wb / 2, b[1] + hb / 2]
        ca = [cb[0] + ox, cb[1] + oy]
        a = [ca[0] - wa / 2, ca[1] - ha / 2, ca[0] + wa / 2, ca[1] + ha / 2]
        bb = [b[0], b[1], b[0] + wb, b[1] + hb]
        a = [ulps(v, rng.randint(-3, 3)) for v in a]
        a32 = [f32(v) for v in a]
        b32 = [f32(v) for v in bb]
        if relations(a32 + [1.0], b32 + [1.0], pt, F32) != relations(a32 + [1.0], b32 + [1.0], pt, np.float64):
            if differs < 200:
                add(a, bb, pt)
        elif border < 100:
            border += 1
            add(a, bb, pt)
    # Random pairs anywhere.
    for _ in range(100):
        a = [rng.uniform(0, 500) for _ in range(2)]
        b = [rng.uniform(0, 500) for _ in range(2)]
        add([a[0], a[1], a[0] + rng.uniform(1, 100), a[1] + rng.uniform(1, 100)],
            [b[0], b[1], b[0] + rng.uniform(1, 100), b[1] + rng.uniform(1, 100)], 0.1)
    return cases, differs


def iou_cases(rng):
    cases = []
    for _ in range(150):
        a0 = [rng.uniform(0, 300), rng.uniform(0, 300)]
        a = [f32(a0[0]), f32(a0[1]), f32(a0[0] + rng.uniform(0.5, 150)), f32(a0[1] + rng.uniform(0.5, 150))]
        b = [ulps(v, rng.randint(-1000, 1000)) if rng.random() < 0.5 else f32(v + rng.uniform(-50, 50)) for v in a]
        arr = np.array([a + [1.0], b + [1.0]], dtype=F32)
        iou = upstream_iou(arr[0], arr[1])
        wide = upstream_iou(arr[0].astype(np.float64), arr[1].astype(np.float64))
        cases.append({"a": a, "b": b, "iou": float(iou), "float64_differs": float(iou) != float(wide)})
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(
        here, "..", "reca", "eval", "geneval_rules_testdata", "numpy_cases.json"))
    parser.add_argument("--seed", type=int, default=22)
    args = parser.parse_args()
    major, minor = (int(x) for x in np.__version__.split(".")[:2])
    if (major, minor) >= (1, 25):
        raise SystemExit(f"numpy {np.__version__}: want < 1.25, as upstream's 1.23.1 (see the docstring)")
    # The norm's float32 dot product, as geneval_rules.cc computes it.
    check = np.random.default_rng(0).uniform(-500, 500, size=(20000, 2)).astype(F32)
    for o in check:
        manual = np.sqrt(F32(o[0] * o[0]) + F32(o[1] * o[1]), dtype=F32)
        assert np.linalg.norm(o) == manual, (o, np.linalg.norm(o), manual)

    rng = random.Random(args.seed)
    position, position_differs = position_cases(rng)
    doc = {
        "generator": "tools/geneval_numpy_cases.py --seed=%d" % args.seed,
        "numpy": np.__version__,
        "order": order_cases(rng),
        "filter": filter_cases(rng),
        "position": position,
        "iou": iou_cases(rng),
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s: %d order (%d unlike a stable sort, %d through the heapsort), %d filter (%d unlike float64 and a stable "
          "sort), %d position (%d unlike float64), %d iou (%d unlike float64)" % (
              args.out, len(doc["order"]), sum(c["differs_from_stable"] for c in doc["order"]),
              sum(c["heapsort"] for c in doc["order"]), len(doc["filter"]), sum(c["float64_differs"] for c in doc["filter"]),
              len(position), position_differs, len(doc["iou"]),
              sum(c["float64_differs"] for c in doc["iou"])))


if __name__ == "__main__":
    main()
