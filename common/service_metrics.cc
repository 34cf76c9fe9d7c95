#include "common/service_metrics.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace reca {
namespace {

using grpc::experimental::InterceptionHookPoints;

const std::vector<double>& RpcBuckets() {
  static const std::vector<double> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};
  return kBuckets;
}

// "INVALID_ARGUMENT": gRPC's codes share absl's numbering
// (common/grpc_status.h).
std::string CodeName(grpc::StatusCode code) {
  std::string name =
      absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
  return name.empty() ? "UNKNOWN" : name;
}

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcServerMetrics* metrics, std::string method)
      : metrics_(metrics), method_(std::move(method)), start_(absl::Now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      metrics_->Record(method_, methods->GetSendStatus().error_code(),
                       absl::ToDoubleSeconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

 private:
  GrpcServerMetrics* metrics_;
  std::string method_;
  absl::Time start_;
};

class MetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit MetricsInterceptorFactory(GrpcServerMetrics* metrics)
      : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, info->method());
  }

 private:
  GrpcServerMetrics* metrics_;
};

}  // namespace

const char* RecaVersion() {
#ifdef RECA_VERSION
  return RECA_VERSION;
#else
  return "dev";
#endif
}

GrpcServerMetrics::GrpcServerMetrics(prometheus::Registry& registry,
                                     std::vector<std::string> services)
    : services_(std::move(services)),
      handled_(
          prometheus::BuildCounter()
              .Name("reca_grpc_server_handled_total")
              .Help(
                  "gRPC calls this server finished, by method and status code.")
              .Register(registry)),
      seconds_(
          prometheus::BuildHistogram()
              .Name("reca_grpc_server_handling_seconds")
              .Help("Time from a gRPC call's start to its status, by method.")
              .Register(registry)) {}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcServerMetrics::InterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>(this);
}

std::string GrpcServerMetrics::MethodLabel(const std::string& method) const {
  for (const std::string& s : services_) {
    if (absl::StartsWith(method, absl::StrCat("/", s, "/"))) return method;
  }
  return "other";
}

void GrpcServerMetrics::Record(const std::string& method, grpc::StatusCode code,
                               double seconds) {
  const std::string label = MethodLabel(method);
  handled_.Add({{"method", label}, {"code", CodeName(code)}}).Increment();
  seconds_.Add({{"method", label}}, RpcBuckets()).Observe(seconds);
}

namespace {
prometheus::Family<prometheus::Histogram>& WriteSeconds(
    prometheus::Registry& registry) {
  return prometheus::BuildHistogram()
      .Name("reca_store_write_seconds")
      .Help("Duration of a RocksDB write batch; sync=true ones are fsync'd.")
      .Register(registry);
}
}  // namespace

AuthDeniedMetrics::AuthDeniedMetrics(prometheus::Registry& registry)
    : denied_(prometheus::BuildCounter()
                  .Name("reca_rpc_auth_denied_total")
                  .Help("RPCs refused: no or an invalid token (unauthenticated), "
                        "or a role that may not call the service "
                        "(permission_denied)")
                  .Register(registry)) {}

void AuthDeniedMetrics::Record(const std::string& service, bool unauthenticated) {
  denied_
      .Add({{"service", service},
            {"code", unauthenticated ? "unauthenticated" : "permission_denied"}})
      .Increment();
}

TimedKvStore::TimedKvStore(KvStore& inner, prometheus::Registry& registry)
    : inner_(inner),
      synced_(WriteSeconds(registry).Add({{"sync", "true"}}, RpcBuckets())),
      buffered_(WriteSeconds(registry).Add({{"sync", "false"}}, RpcBuckets())),
      errors_(prometheus::BuildCounter()
                  .Name("reca_store_write_errors_total")
                  .Help("RocksDB write batches that failed.")
                  .Register(registry)
                  .Add({})) {}

absl::Status TimedKvStore::Write(const WriteBatch& batch) {
  const absl::Time start = absl::Now();
  absl::Status s = inner_.Write(batch);
  (batch.sync() ? synced_ : buffered_)
      .Observe(absl::ToDoubleSeconds(absl::Now() - start));
  if (!s.ok()) errors_.Increment();
  return s;
}

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> StartMetricsExposer(
    const std::string& address, const std::string& flag,
    const std::vector<std::weak_ptr<prometheus::Collectable>>& collectables) {
  std::unique_ptr<prometheus::Exposer> exposer;
  try {
    exposer = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, ": cannot serve /metrics on ", address, ": ", e.what()));
  }
  for (const auto& c : collectables) exposer->RegisterCollectable(c);
  return exposer;
}

absl::StatusOr<std::unique_ptr<prometheus::Exposer>> ServeMetricsFlag(
    const std::string& address,
    std::weak_ptr<prometheus::Collectable> collectable, std::string* url) {
  if (address.empty()) return nullptr;
  auto exposer = StartMetricsExposer(address, "--metrics_listen",
                                     {std::move(collectable)});
  if (exposer.ok()) *url = MetricsUrl(address, **exposer);
  return exposer;
}

std::string MetricsUrl(const std::string& address,
                       const prometheus::Exposer& exposer) {
  const std::vector<int> ports = exposer.GetListeningPorts();
  return absl::StrCat("http://", address.substr(0, address.rfind(':')), ":",
                      ports.empty() ? 0 : ports[0], "/metrics");
}

}  // namespace reca
