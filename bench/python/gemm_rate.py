"""The machine's fp32 GEMM rate, the denominator of MFU.

Best of several 1024^3 (or --n) torch.mm calls at the given thread count; the
same BLAS (Debian's OpenBLAS through LibTorch) serves the C++ trainer.
"""
import argparse
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--dtype", default="float32")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    a = torch.randn(args.n, args.n, dtype=dtype)
    b = torch.randn(args.n, args.n, dtype=dtype)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    print("gemm_flops_per_second %.6g" % (2.0 * args.n ** 3 / best))


if __name__ == "__main__":
    main()
