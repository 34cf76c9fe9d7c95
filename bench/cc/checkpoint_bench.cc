// Checkpoint write speed against the disk's fsync'd sequential bandwidth,
// measured side by side in one process (bench/RESULTS.md).
//
//   reca-checkpoint-bench [--dir=/tmp/reca-ckpt-bench] [--mb=512] [--rounds=5]
//
// Peer: one file of the same total size written in 4 MiB chunks, fsync'd,
// its directory fsync'd (what `dd conv=fsync` measures). Ours:
// CheckpointStore::Commit of a model (1/3) + optimizer state (2/3) split,
// which also hashes every byte (SHA-256), writes the manifest, renames and
// fsyncs the directories. Deleting either file afterwards is untimed on both
// sides. Rounds alternate; the medians are compared.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "reca/ckpt/checkpoint_store.h"
#include "reca/ckpt/sha256.h"
#include "reca/cli_args.h"
#include "reca/file_util.h"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  uint64_t x = seed;
  for (size_t i = 0; i + 8 <= n; i += 8) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    std::memcpy(&s[i], &x, 8);
  }
  return s;
}

// The peer: sequential write + fsync of one file, then its directory.
double WriteFsynced(const std::string& dir, const std::string& bytes) {
  const std::string path = dir + "/peer.bin";
  const double t0 = Now();
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) std::perror("open"), std::exit(1);
  const size_t chunk = 4 << 20;
  for (size_t off = 0; off < bytes.size(); off += chunk) {
    const size_t n = std::min(chunk, bytes.size() - off);
    if (::write(fd, bytes.data() + off, n) != static_cast<ssize_t>(n)) std::perror("write"), std::exit(1);
  }
  ::fsync(fd);
  ::close(fd);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  ::fsync(dfd);
  ::close(dfd);
  const double t = Now() - t0;
  ::unlink(path.c_str());
  return t;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

reca::Status Run(int argc, char** argv) {
  RECA_ASSIGN_OR_RETURN(reca::CliArgs args, reca::CliArgs::Parse(argc, argv));
  std::string dir = "/tmp/reca-ckpt-bench";
  int64_t mb = 512, rounds = 5;
  RECA_RETURN_IF_ERROR(args.Get("dir", &dir));
  RECA_RETURN_IF_ERROR(args.Get("mb", &mb));
  RECA_RETURN_IF_ERROR(args.Get("rounds", &rounds));
  RECA_RETURN_IF_ERROR(args.CheckAllUsed());
  std::system(("rm -rf '" + dir + "'").c_str());
  RECA_RETURN_IF_ERROR(reca::MakeDirs(dir));
  const size_t total = static_cast<size_t>(mb) << 20;
  const std::map<std::string, std::string> files = {
      {"model.safetensors", RandomBytes(total / 3, 1)},
      {"optimizer.safetensors", RandomBytes(total - total / 3, 2)},
  };
  std::string all = files.at("model.safetensors") + files.at("optimizer.safetensors");
  reca::CheckpointStore store(dir + "/checkpoints");
  std::vector<double> peer, ours;
  for (int64_t r = 0; r < rounds; ++r) {
    peer.push_back(WriteFsynced(dir, all));
    const double t0 = Now();
    RECA_ASSIGN_OR_RETURN(const std::string committed, store.Commit(r + 1, files, /*keep=*/0));
    ours.push_back(Now() - t0);
    // Deleting it is not part of writing it (the peer's unlink is untimed too).
    std::system(("rm -rf '" + committed + "'").c_str());
    std::printf("round %lld: fsync'd sequential write %.0f MB/s | checkpoint commit %.0f MB/s\n",
                static_cast<long long>(r + 1), total / 1e6 / peer.back(), total / 1e6 / ours.back());
  }
  const double peer_bw = total / 1e6 / Median(peer), ours_bw = total / 1e6 / Median(ours);
  std::printf("checkpoint_mb %lld\nsha_ni %s\ndisk_fsync_mb_per_s %.0f\ncommit_mb_per_s %.0f\nratio %.2f\n",
              static_cast<long long>(mb), reca::Sha256UsesShaNi() ? "yes" : "no", peer_bw, ours_bw,
              ours_bw / peer_bw);
  std::system(("rm -rf '" + dir + "'").c_str());
  return reca::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  reca::Status s = Run(argc, argv);
  if (!s.ok()) {
    std::cerr << "reca-checkpoint-bench: " << s << "\n";
    return 2;
  }
  return 0;
}
