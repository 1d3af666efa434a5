// The BPF protocol inference (bpf/lib/protocol_inference.h) compiled as host code.
#include <linux/types.h>

#include <string>

#include "gtest/gtest.h"
// clang-format off: the BPF header needs the __u* types first.
#include "bpf/lib/protocol_inference.h"
// clang-format on

namespace loupe::sensors {
namespace {

struct Inferred {
  int protocol;
  int message_type;
};

Inferred Infer(const std::string& bytes, bool frames_ok = false, size_t size = 0) {
  __u8 head[LOUPE_INFER_BYTES] = {};
  const size_t n = bytes.size() < sizeof(head) ? bytes.size() : sizeof(head);
  bytes.copy(reinterpret_cast<char*>(head), n);
  const loupe_inference r = loupe__infer_protocol(
      head, static_cast<__u32>(n), static_cast<__u32>(size ? size : bytes.size()), frames_ok);
  return {r.protocol, r.message_type};
}

TEST(ProtocolInferenceTest, Http1Requests) {
  for (const char* request :
       {"GET / HTTP/1.1\r\n", "POST /api HTTP/1.1", "PUT /x", "PATCH /x", "DELETE /x", "HEAD /",
        "OPTIONS /x", "OPTIONS * HTTP/1.1", "CONNECT example.com:443 HTTP/1.1", "TRACE /",
        "GET http://example.com/ HTTP/1.1"}) {
    const Inferred r = Infer(request);
    EXPECT_EQ(r.protocol, LOUPE_PROTOCOL_HTTP1) << request;
    EXPECT_EQ(r.message_type, LOUPE_MSG_REQUEST) << request;
  }
}

TEST(ProtocolInferenceTest, Http1Responses) {
  for (const char* response : {"HTTP/1.1 200 OK\r\n", "HTTP/1.0 404 Not Found", "HTTP/1.1 101"}) {
    const Inferred r = Infer(response);
    EXPECT_EQ(r.protocol, LOUPE_PROTOCOL_HTTP1) << response;
    EXPECT_EQ(r.message_type, LOUPE_MSG_RESPONSE) << response;
  }
}

TEST(ProtocolInferenceTest, RejectsLookalikes) {
  for (const char* text : {"GET", "GET ", "GETX /", "get / HTTP/1.1", "GET x", "POST  /",
                           "HTTP/1.1 20", "HTTP/2.0 200 OK", "HTTP/1.1 999 x", "OPTIONS *x",
                           "CONNECT  host", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r", "SSH-2.0-OpenSSH",
                           "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"}) {
    EXPECT_EQ(Infer(text).protocol, LOUPE_PROTOCOL_UNKNOWN) << text;
  }
}

TEST(ProtocolInferenceTest, Http2Preface) {
  const std::string preface("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
  const Inferred r = Infer(preface + std::string("\0\0\0\x04\0\0\0\0\0", 9));
  EXPECT_EQ(r.protocol, LOUPE_PROTOCOL_HTTP2);
  EXPECT_EQ(r.message_type, LOUPE_MSG_REQUEST);
}

TEST(ProtocolInferenceTest, Http2FramesOnlyForPreexistingConnections) {
  // HEADERS, END_HEADERS, stream 1, 10-byte block.
  const std::string headers = std::string("\0\0\x0a\x01\x04\0\0\0\x01", 9) + std::string(10, 'h');
  EXPECT_EQ(Infer(headers, /*frames_ok=*/false).protocol, LOUPE_PROTOCOL_UNKNOWN);
  EXPECT_EQ(Infer(headers, /*frames_ok=*/true).protocol, LOUPE_PROTOCOL_HTTP2);
  // SETTINGS ACK, PING, WINDOW_UPDATE.
  EXPECT_EQ(Infer(std::string("\0\0\0\x04\x01\0\0\0\0", 9), true).protocol, LOUPE_PROTOCOL_HTTP2);
  EXPECT_EQ(Infer(std::string("\0\0\x08\x06\0\0\0\0\0", 9) + std::string(8, 'p'), true).protocol,
            LOUPE_PROTOCOL_HTTP2);
  EXPECT_EQ(Infer(std::string("\0\0\x04\x08\0\0\0\0\x03", 9) + "wwww", true).protocol,
            LOUPE_PROTOCOL_HTTP2);
  // Frame larger than the call, HEADERS on stream 0, unknown type, bad SETTINGS length,
  // reserved bit set.
  EXPECT_EQ(Infer(headers.substr(0, 15), true).protocol, LOUPE_PROTOCOL_UNKNOWN);
  EXPECT_EQ(Infer(std::string("\0\0\x0a\x01\x04\0\0\0\0", 9) + std::string(10, 'h'), true).protocol,
            LOUPE_PROTOCOL_UNKNOWN);
  EXPECT_EQ(Infer(std::string("\0\0\0\x0a\0\0\0\0\0", 9), true).protocol, LOUPE_PROTOCOL_UNKNOWN);
  EXPECT_EQ(Infer(std::string("\0\0\x05\x04\0\0\0\0\0", 9) + "sssss", true).protocol,
            LOUPE_PROTOCOL_UNKNOWN);
  EXPECT_EQ(Infer(std::string("\0\0\0\x04\0\x80\0\0\0", 9), true).protocol, LOUPE_PROTOCOL_UNKNOWN);
}

}  // namespace
}  // namespace loupe::sensors
