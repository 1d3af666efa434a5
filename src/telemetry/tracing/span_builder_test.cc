#include "src/telemetry/tracing/span_builder.h"

#include <gtest/gtest.h>

#include <map>

namespace loupe::tracing {
namespace {

using telemetry::Protocol;
using telemetry::Request;
using telemetry::Role;

std::map<std::string, AttributeValue> Attrs(const Span& s) {
  std::map<std::string, AttributeValue> out;
  for (const auto& a : s.attributes) out.emplace(std::string(a.key), a.value);
  return out;
}

Request HttpRequest(Role role, uint32_t status) {
  Request r;
  r.pid = 10;
  r.tid = 11;
  r.role = role;
  r.protocol = Protocol::kHttp1;
  r.method = "GET";
  r.path = "/users/42";
  r.host = "api.example:8080";
  r.status = status;
  r.start_ns = 1000;
  r.end_ns = 5000;
  r.request_body_bytes = 3;
  r.response_body_bytes = 120;
  flow::IpAddress::Parse("10.0.0.2", &r.local_ip);
  flow::IpAddress::Parse("10.0.0.1", &r.remote_ip);
  r.local_port = 8080;
  r.remote_port = 50000;
  return r;
}

TEST(SpanBuilderTest, HttpServer) {
  Span s;
  BuildSpan(HttpRequest(Role::kServer, 200), "/users/{id}", &s);
  EXPECT_EQ(s.name, "GET /users/{id}");
  EXPECT_EQ(s.kind, SpanKind::kServer);
  EXPECT_EQ(s.status, StatusCode::kUnset);
  EXPECT_EQ(s.start_ns, 1000);
  EXPECT_EQ(s.end_ns, 5000);
  auto a = Attrs(s);
  EXPECT_EQ(std::get<std::string>(a.at("http.request.method")), "GET");
  EXPECT_EQ(std::get<int64_t>(a.at("http.response.status_code")), 200);
  EXPECT_EQ(std::get<std::string>(a.at("url.path")), "/users/42");
  EXPECT_EQ(std::get<std::string>(a.at("http.route")), "/users/{id}");
  EXPECT_EQ(std::get<std::string>(a.at("url.scheme")), "http");
  EXPECT_EQ(std::get<std::string>(a.at("client.address")), "10.0.0.1");
  EXPECT_EQ(std::get<std::string>(a.at("server.address")), "api.example");
  EXPECT_EQ(std::get<int64_t>(a.at("server.port")), 8080);
  EXPECT_EQ(std::get<int64_t>(a.at("http.request.body.size")), 3);
  EXPECT_EQ(std::get<int64_t>(a.at("http.response.body.size")), 120);
  EXPECT_EQ(a.count("error.type"), 0u);
  EXPECT_EQ(a.count("url.full"), 0u);
}

TEST(SpanBuilderTest, HttpNameWithoutRouteIsTheMethod) {
  Span s;
  BuildSpan(HttpRequest(Role::kServer, 200), "", &s);
  EXPECT_EQ(s.name, "GET");
  EXPECT_EQ(Attrs(s).count("http.route"), 0u);
}

TEST(SpanBuilderTest, HttpStatusRules) {
  Span s;
  BuildSpan(HttpRequest(Role::kServer, 404), "", &s);
  EXPECT_EQ(s.status, StatusCode::kUnset);  // 4xx is the client's fault
  BuildSpan(HttpRequest(Role::kServer, 500), "", &s);
  EXPECT_EQ(s.status, StatusCode::kError);
  EXPECT_EQ(std::get<std::string>(Attrs(s).at("error.type")), "500");
  BuildSpan(HttpRequest(Role::kServer, 0), "", &s);
  EXPECT_EQ(s.status, StatusCode::kError);
  BuildSpan(HttpRequest(Role::kClient, 404), "", &s);
  EXPECT_EQ(s.status, StatusCode::kError);
  BuildSpan(HttpRequest(Role::kClient, 302), "", &s);
  EXPECT_EQ(s.status, StatusCode::kUnset);
}

TEST(SpanBuilderTest, HttpClient) {
  Span s;
  BuildSpan(HttpRequest(Role::kClient, 200), "", &s);
  EXPECT_EQ(s.kind, SpanKind::kClient);
  auto a = Attrs(s);
  EXPECT_EQ(std::get<std::string>(a.at("url.full")), "http://api.example:8080/users/42");
  EXPECT_EQ(std::get<std::string>(a.at("server.address")), "api.example");
  EXPECT_EQ(std::get<int64_t>(a.at("server.port")), 50000);
  EXPECT_EQ(a.count("client.address"), 0u);
  EXPECT_EQ(a.count("url.path"), 0u);
}

TEST(SpanBuilderTest, GrpcServerAndClient) {
  Request r = HttpRequest(Role::kServer, 200);
  r.protocol = Protocol::kGrpc;
  r.method = "POST";
  r.path = "/helloworld.Greeter/SayHello";
  r.grpc_status = 5;  // NOT_FOUND: not a server error
  Span s;
  BuildSpan(r, "ignored", &s);
  EXPECT_EQ(s.name, "/helloworld.Greeter/SayHello");
  EXPECT_EQ(s.status, StatusCode::kUnset);
  auto a = Attrs(s);
  EXPECT_EQ(std::get<std::string>(a.at("rpc.system.name")), "grpc");
  EXPECT_EQ(std::get<std::string>(a.at("rpc.method")), "helloworld.Greeter/SayHello");
  EXPECT_EQ(std::get<std::string>(a.at("rpc.response.status_code")), "NOT_FOUND");
  EXPECT_EQ(a.count("http.request.method"), 0u);
  r.grpc_status = 14;
  BuildSpan(r, "", &s);
  EXPECT_EQ(s.status, StatusCode::kError);
  EXPECT_EQ(s.status_message, "UNAVAILABLE");
  r.role = Role::kClient;
  r.grpc_status = 5;
  BuildSpan(r, "", &s);
  EXPECT_EQ(s.kind, SpanKind::kClient);
  EXPECT_EQ(s.status, StatusCode::kError);  // any non-OK on the client
  r.grpc_status = 0;
  BuildSpan(r, "", &s);
  EXPECT_EQ(s.status, StatusCode::kUnset);
}

TEST(SpanBuilderTest, GrpcStatusNames) {
  EXPECT_EQ(GrpcStatusName(0), "OK");
  EXPECT_EQ(GrpcStatusName(4), "DEADLINE_EXCEEDED");
  EXPECT_EQ(GrpcStatusName(16), "UNAUTHENTICATED");
  EXPECT_EQ(GrpcStatusName(17), "");
  EXPECT_EQ(GrpcStatusName(-1), "");
}

TEST(SpanBuilderTest, EndBeforeStartIsClamped) {
  Request r = HttpRequest(Role::kServer, 200);
  r.end_ns = 10;
  Span s;
  BuildSpan(r, "", &s);
  EXPECT_EQ(s.end_ns, s.start_ns);
}

}  // namespace
}  // namespace loupe::tracing
