// Event-driven Prometheus instruments shared by the daemons:
//  * gRPC server calls per method (a server interceptor):
//      reca_grpc_server_handled_total{method, code}
//      reca_grpc_server_handling_seconds{method}   (histogram)
//    Methods outside the registered services are labelled "other" so a
//    client cannot grow the label set.
//  * KvStore writes (a decorator over the real store):
//      reca_store_write_seconds{sync}               (histogram)
//      reca_store_write_errors_total
//  * MetricsExposer: the pull exposer (/metrics) on a configured address.
#ifndef RECA_COMMON_SERVICE_METRICS_H_
#define RECA_COMMON_SERVICE_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/kv_store.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace reca {

// reca_build_info's version label: the RECA_VERSION compile definition, or
// "dev".
const char* RecaVersion();

// reca_rpc_auth_denied_total{service,code}: RPCs the coordinator's
// authentication refused (code "unauthenticated" or "permission_denied").
class AuthDeniedMetrics {
 public:
  explicit AuthDeniedMetrics(prometheus::Registry& registry);
  // `unauthenticated`: no, an unknown or a revoked token; else a wrong role.
  void Record(const std::string& service, bool unauthenticated);

 private:
  prometheus::Family<prometheus::Counter>& denied_;
};

class GrpcServerMetrics {
 public:
  // `services`: full service names ("reca.v1.JobService") whose methods get
  // their own label.
  GrpcServerMetrics(prometheus::Registry& registry,
                    std::vector<std::string> services);
  // For grpc::ServerBuilder::experimental().SetInterceptorCreators.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  InterceptorFactory();
  // Records one finished call ("/pkg.Service/Method", its status, seconds).
  void Record(const std::string& method, grpc::StatusCode code, double seconds);

 private:
  std::string MethodLabel(const std::string& method) const;
  std::vector<std::string> services_;
  prometheus::Family<prometheus::Counter>& handled_;
  prometheus::Family<prometheus::Histogram>& seconds_;
};

// Times every Write of `inner`.
class TimedKvStore : public KvStore {
 public:
  TimedKvStore(KvStore& inner, prometheus::Registry& registry);
  absl::StatusOr<std::optional<std::string>> Get(
      const std::string& key) const override {
    return inner_.Get(key);
  }
  absl::Status Write(const WriteBatch& batch) override;

 protected:
  absl::StatusOr<std::vector<KeyValue>> ScanPage(const std::string& prefix,
                                                 const std::string& start_after,
                                                 size_t limit) const override {
    return inner_.Scan(prefix, start_after, limit);
  }

 private:
  KvStore& inner_;
  prometheus::Histogram& synced_;
  prometheus::Histogram& buffered_;
  prometheus::Counter& errors_;
};

// The /metrics endpoint on `address` ("127.0.0.1:9470"; port 0 picks a free
// one) serving `collectables`. INVALID_ARGUMENT naming `flag` when it cannot
// listen there.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(
    const std::string& address, const std::string& flag,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables);

// A daemon's --metrics_listen: serves `collectable` on `address`, or nothing
// when it is empty (then null, and *url stays empty); *url is where it serves.
absl::StatusOr<std::unique_ptr<prometheus::Exposer>> ServeMetricsFlag(
    const std::string& address,
    std::weak_ptr<prometheus::Collectable> collectable, std::string* url);

// "http://HOST:PORT/metrics" of an exposer started on `address` (its bound
// port, for port 0).
std::string MetricsUrl(const std::string& address,
                       const prometheus::Exposer& exposer);

}  // namespace reca

#endif  // RECA_COMMON_SERVICE_METRICS_H_
