#include "src/telemetry/request_flows.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "nlohmann/json.hpp"
#include "src/telemetry/request_json_reference.h"

namespace loupe::telemetry {
namespace {

Request Exchange() {
  Request r;
  r.pid = 77;
  r.role = Role::kServer;
  flow::IpAddress::Parse("10.0.0.2", &r.local_ip);
  flow::IpAddress::Parse("10.0.0.9", &r.remote_ip);
  r.local_port = 8080;
  r.remote_port = 41000;
  r.protocol = Protocol::kHttp1;
  r.method = "POST";
  r.path = "/api/v1/orders/12345";
  r.version = "HTTP/1.1";
  r.host = "orders.shop.svc.cluster.local:8080";
  r.status = 201;
  r.start_ns = 1'000;
  r.end_ns = 4'500;
  return r;
}

// The JSON trace printer replaces invalid UTF-8 instead of throwing (nlohmann's strict default
// threw type_error 316 and aborted the agent on a request line with such bytes).
TEST(RequestFlowsTest, JsonPrinterReplacesInvalidUtf8) {
  Request r = Exchange();
  r.path = "/\xFF\xFE";
  r.process = "a\x80";
  std::string line;
  ASSERT_NO_THROW(line = FormatRequestJson(r));
  EXPECT_NE(line.find("\"path\":\"/\xEF\xBF\xBD\xEF\xBF\xBD\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"process\":\"a\xEF\xBF\xBD\""), std::string::npos) << line;
}

TEST(RequestFlowsTest, JsonPrinterWritesWhatNlohmannWrote) {
  Request r = Exchange();
  r.tid = 78;
  r.grpc_status = 14;
  r.start_ns = 1'795'871'976'306'128'005;
  r.end_ns = r.start_ns + 19'618'151;
  r.request_body_bytes = 18'446'744'073'709'551'615ULL;
  r.response_header_bytes = 122;
  r.partial = true;
  r.trace.trace_id = "0af7651916cd43dd8448eb211c80319c";
  r.trace.parent_span_id = "b7ad6b7169203331";
  r.process = "ng\"inx\\";
  r.path = std::string("/a\x01\b\t\n\f\r\x1f\x7f/\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80?");
  r.host = "[::1]:80";
  r.method = "";
  EXPECT_EQ(FormatRequestJson(r), NlohmannRequestLine(r, "10.0.0.2:8080", "10.0.0.9:41000"));

  // Random strings over the characters that need care: controls, quote, backslash, DEL, and
  // valid 2-, 3- and 4-byte sequences.
  const std::string pieces[] = {std::string(1, '\0'),
                                "\x01",
                                "\x1f",
                                " ",
                                "\"",
                                "\\",
                                "/",
                                "a",
                                "\x7f",
                                "\xC2\x80",
                                "\xDF\xBF",
                                "\xE0\xA0\x80",
                                "\xEF\xBF\xBF",
                                "\xF0\x90\x80\x80",
                                "\xF4\x8F\xBF\xBF",
                                "\xFF"};
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    const int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) {
      const std::string& piece = pieces[rng() % std::size(pieces)];
      s.append(piece);
    }
    r.path = s;
    r.process = s + s;
    ASSERT_EQ(FormatRequestJson(r), NlohmannRequestLine(r, "10.0.0.2:8080", "10.0.0.9:41000")) << s;
  }
}

std::string Indented(const Request& r) {
  std::string out;
  AppendRequestJsonIndented(r, &out);
  return out;
}

// json_indent: the json object as nlohmann's dump(1) (and Go's MarshalIndent with one space, which
// Beyla uses) lays it out, including strings holding quotes, braces, commas, colons and escapes.
TEST(RequestFlowsTest, JsonIndentPrinterIndentsTheJsonObject) {
  Request r = Exchange();
  r.trace.trace_id = "0af7651916cd43dd8448eb211c80319c";
  EXPECT_EQ(Indented(r), nlohmann::json::parse(FormatRequestJson(r)).dump(1));
  EXPECT_EQ(Indented(r).substr(0, 19), "{\n \"duration_ns\": 3");
  EXPECT_EQ(Indented(r).back(), '}');

  const std::string pieces[] = {"{",        "}",    "[",    "]", ",",  ":",
                                "\"",       "\\",   "\\\"", "a", "\n", std::string(1, '\0'),
                                "\xC3\xA9", "\xFF", " "};
  std::mt19937 rng(11);
  for (int round = 0; round < 2000; ++round) {
    std::string s;
    const int n = static_cast<int>(rng() % 10);
    for (int k = 0; k < n; ++k) s.append(pieces[rng() % std::size(pieces)]);
    r.path = s;
    r.method = s + "x";
    ASSERT_EQ(Indented(r), nlohmann::json::parse(FormatRequestJson(r)).dump(1)) << s;
  }
}

TEST(RequestFlowsTest, IndentKeepsEmptyContainersAndNesting) {
  std::string out;
  AppendIndentedJson(R"({"a":{},"b":[],"c":{"d":[1,{"e":"}{,:"}]}})", &out);
  EXPECT_EQ(out, nlohmann::json::parse(R"({"a":{},"b":[],"c":{"d":[1,{"e":"}{,:"}]}})").dump(1));
}

// Each byte that does not begin a valid sequence becomes one U+FFFD (as everywhere in Loupe); the
// line always parses.
TEST(RequestFlowsTest, JsonPrinterReplacesEachInvalidByte) {
  Request r = Exchange();
  r.path =
      "/\xE2\x82"
      "A\xC0\x80\xED\xA0\x80";
  const std::string line = FormatRequestJson(r);
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["path"].get<std::string>(),
            "/\uFFFD\uFFFD"
            "A\uFFFD\uFFFD\uFFFD\uFFFD\uFFFD")
      << line;
  EXPECT_EQ(parsed["method"], "POST");
  EXPECT_EQ(parsed["status"], 201);
  EXPECT_EQ(parsed["duration_ns"], 3'500);
}

// The JSON trace printer's ends are host:port with IPv6 addresses bracketed ("::1:8080" could
// not be split).
TEST(RequestFlowsTest, JsonPrinterBracketsIpv6Ends) {
  Request r = Exchange();
  EXPECT_NE(FormatRequestJson(r).find(R"("local":"10.0.0.2:8080")"), std::string::npos);
  flow::IpAddress::Parse("::1", &r.local_ip);
  flow::IpAddress::Parse("fd00::9", &r.remote_ip);
  const std::string line = FormatRequestJson(r);
  EXPECT_NE(line.find(R"("local":"[::1]:8080")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("remote":"[fd00::9]:41000")"), std::string::npos) << line;
}

TEST(RequestFlowsTest, RequestAndResponseFlows) {
  flow::Flow req;
  flow::Flow resp;
  RequestToFlows(Exchange(), &req, &resp);

  EXPECT_EQ(req.type, flow::FlowType::kL7);
  EXPECT_EQ(req.time_ns, 1'000);
  EXPECT_EQ(req.src_ip.ToString(), "10.0.0.9");
  EXPECT_EQ(req.dst_ip.ToString(), "10.0.0.2");
  EXPECT_EQ(req.src_port, 41000);
  EXPECT_EQ(req.dst_port, 8080);
  EXPECT_EQ(req.is_reply, 0);
  EXPECT_EQ(req.direction, flow::TrafficDirection::kIngress);
  EXPECT_EQ(req.pid, 77u);
  ASSERT_NE(req.l7, nullptr);
  EXPECT_EQ(req.l7->type, flow::L7Type::kRequest);
  EXPECT_EQ(req.l7->latency_ns, 0u);
  EXPECT_EQ(req.l7->dns, nullptr);
  ASSERT_NE(req.l7->http, nullptr);
  EXPECT_EQ(req.l7->http->code, 0u);
  EXPECT_EQ(req.l7->http->method, "POST");
  EXPECT_EQ(req.l7->http->url, "http://orders.shop.svc.cluster.local:8080/api/v1/orders/12345");
  EXPECT_EQ(req.l7->http->protocol, "HTTP/1.1");
  EXPECT_TRUE(req.l7->http->headers.empty());

  EXPECT_EQ(resp.time_ns, 4'500);
  EXPECT_EQ(resp.src_ip.ToString(), "10.0.0.2");
  EXPECT_EQ(resp.dst_port, 41000);
  EXPECT_EQ(resp.is_reply, 1);
  ASSERT_NE(resp.l7, nullptr);
  EXPECT_EQ(resp.l7->type, flow::L7Type::kResponse);
  EXPECT_EQ(resp.l7->latency_ns, 3'500u);
  ASSERT_NE(resp.l7->http, nullptr);
  EXPECT_EQ(resp.l7->http->code, 201u);
  EXPECT_EQ(resp.l7->http->method, "POST");
  EXPECT_EQ(resp.l7->http->url, req.l7->http->url);
  EXPECT_EQ(resp.l7->http->protocol, "HTTP/1.1");
  // Both records of the exchange share one allocation: the same owner, different objects.
  EXPECT_FALSE(req.l7.owner_before(resp.l7) || resp.l7.owner_before(req.l7));
  EXPECT_NE(req.l7.get(), resp.l7.get());
  EXPECT_NE(req.l7->http.get(), resp.l7->http.get());
}

TEST(RequestFlowsTest, UrlWithoutHostVersionDefaultAndGrpcStatus) {
  Request r = Exchange();
  r.host.clear();
  r.version.clear();
  r.protocol = Protocol::kGrpc;
  r.grpc_status = 14;
  r.role = Role::kClient;
  r.end_ns = 500;  // clock skew: no negative latency
  flow::Flow req;
  flow::Flow resp;
  RequestToFlows(r, &req, &resp);
  // A client's peer is the remote end.
  EXPECT_EQ(req.l7->http->url, "http://10.0.0.9:41000/api/v1/orders/12345");
  EXPECT_EQ(req.l7->http->protocol, "HTTP/1.1");
  EXPECT_EQ(req.direction, flow::TrafficDirection::kEgress);
  EXPECT_EQ(req.src_ip.ToString(), "10.0.0.2");
  EXPECT_EQ(resp.l7->latency_ns, 0u);
  ASSERT_EQ(resp.l7->http->headers.size(), 1u);
  EXPECT_EQ(resp.l7->http->headers[0].first, "grpc-status");
  EXPECT_EQ(resp.l7->http->headers[0].second, "14");
  EXPECT_TRUE(req.l7->http->headers.empty());
}

// Each flow keeps the shared block alive on its own (the flow buffer evicts them separately).
TEST(RequestFlowsTest, EitherFlowOutlivesTheOther) {
  for (bool drop_request_first : {true, false}) {
    auto req = std::make_unique<flow::Flow>();
    auto resp = std::make_unique<flow::Flow>();
    RequestToFlows(Exchange(), req.get(), resp.get());
    std::shared_ptr<const flow::L7Info> kept = drop_request_first ? resp->l7 : req->l7;
    req.reset();
    resp.reset();
    ASSERT_NE(kept->http, nullptr);
    EXPECT_EQ(kept->http->method, "POST");
    EXPECT_EQ(kept.use_count(), 1);
  }
}

}  // namespace
}  // namespace loupe::telemetry
