"""Compares two safetensors weight files against a control (trainer_process_test.sh).

    compare_weights.py A B CONTROL --root=REPO --tol=T

Passes when ||A - B|| <= T * ||A - CONTROL|| (L2 over all weights; the
control must differ). The L2 norm, not the max: AdamW divides each gradient
element by its own running magnitude, so an element whose gradient is ~0 can
move by up to lr per step on float32 summation-order noise alone.
"""
import argparse
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("control")
    ap.add_argument("--root", default=".")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    sys.path.insert(0, args.root + "/bench/python")
    from safetensors_io import load_file  # noqa: E402

    a = load_file(args.a)[0]
    b = load_file(args.b)[0]
    c = load_file(args.control)[0]
    def dist(x, y):
        return sum(float((x[k].double() - y[k].double()).pow(2).sum()) for k in x) ** 0.5

    diff, ctrl = dist(a, b), dist(a, c)
    worst = max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].numel())
    print(f"||2 ranks x B - 1 rank x 2B|| = {diff:.3e} (max element {worst:.1e}); "
          f"control (other seed) = {ctrl:.3e}; "
          f"ratio {diff / ctrl:.2e} (tolerance {args.tol:.0e})")
    if ctrl == 0 or diff > args.tol * ctrl:
        sys.exit("FAIL: 2 ranks do not match 1 rank with the doubled batch")


if __name__ == "__main__":
    main()
