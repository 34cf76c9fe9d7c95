#include "common/service_metrics.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "common/memory_kv_store.h"
#include "gtest/gtest.h"
#include "prometheus/text_serializer.h"

namespace reca {
namespace {

std::string Text(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST(ServiceMetricsTest, RpcCallsByMethodWithUnknownMethodsFolded) {
  prometheus::Registry registry;
  GrpcServerMetrics m(registry, {"reca.v1.JobService"});
  m.Record("/reca.v1.JobService/SubmitJob", grpc::OK, 0.002);
  m.Record("/reca.v1.JobService/SubmitJob", grpc::INVALID_ARGUMENT, 0.001);
  m.Record("/evil.Service/X1", grpc::UNIMPLEMENTED, 0.0001);
  m.Record("/reca.v1.JobServiceX/Y", grpc::UNIMPLEMENTED, 0.0001);
  const std::string text = Text(registry);
  EXPECT_NE(text.find("reca_grpc_server_handled_total{code=\"OK\",method=\"/"
                      "reca.v1.JobService/"
                      "SubmitJob\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("reca_grpc_server_handled_total{code=\"UNIMPLEMENTED\","
                      "method=\"other\"} 2"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("evil"), std::string::npos) << text;
  EXPECT_NE(text.find("reca_grpc_server_handling_seconds_count{method=\"/"
                      "reca.v1.JobService/"
                      "SubmitJob\"} 2"),
            std::string::npos)
      << text;
}

TEST(ServiceMetricsTest, StoreWritesAreTimedBySync) {
  prometheus::Registry registry;
  MemoryKvStore inner;
  TimedKvStore store(inner, registry);
  WriteBatch a;
  a.Put("k", "v");
  ASSERT_TRUE(store.Write(a.set_sync(true)).ok());
  WriteBatch b;
  b.Put("k2", "v");
  ASSERT_TRUE(store.Write(b.set_sync(false)).ok());
  ASSERT_TRUE(store.Write(b.set_sync(false)).ok());
  EXPECT_EQ(*store.Get("k2").value(), "v");
  EXPECT_EQ(store.Scan("k").value().size(), 2u);
  const std::string text = Text(registry);
  EXPECT_NE(text.find("reca_store_write_seconds_count{sync=\"true\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("reca_store_write_seconds_count{sync=\"false\"} 2"),
            std::string::npos);
  EXPECT_NE(text.find("reca_store_write_errors_total 0"), std::string::npos);
}

TEST(ServiceMetricsTest, AuthDenialsByServiceAndCode) {
  prometheus::Registry registry;
  AuthDeniedMetrics denied(registry);
  denied.Record("reca.v1.JobService", true);
  denied.Record("reca.v1.JobService", true);
  denied.Record("reca.v1.AdminService", false);
  const std::string text = Text(registry);
  EXPECT_NE(text.find("reca_rpc_auth_denied_total{code=\"unauthenticated\","
                      "service=\"reca.v1.JobService\"} 2"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("reca_rpc_auth_denied_total{code=\"permission_denied\","
                      "service=\"reca.v1.AdminService\"} 1"),
            std::string::npos);
}

TEST(ServiceMetricsTest, ExposerServesMetricsOverHttp) {
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildCounter()
      .Name("reca_test_total")
      .Help("t")
      .Register(*registry)
      .Add({})
      .Increment();
  auto exposer =
      StartMetricsExposer("127.0.0.1:0", "--metrics_listen", {registry});
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  const int port = (*exposer)->GetListeningPorts().at(0);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string req = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_EQ(::write(fd, req.data(), req.size()),
            static_cast<ssize_t>(req.size()));
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;)
    response.append(buf, n);
  ::close(fd);
  EXPECT_NE(response.find("200 OK"), std::string::npos) << response;
  EXPECT_NE(response.find("reca_test_total 1"), std::string::npos) << response;

  auto bad = StartMetricsExposer("no-such-host.invalid:99999",
                                 "--metrics_listen", {registry});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().ToString().find(
                "--metrics_listen: cannot serve /metrics on"),
            std::string::npos)
      << bad.status();
}

}  // namespace
}  // namespace reca
