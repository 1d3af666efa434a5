/* Cheap protocol inference on the first bytes of a connection's data. Pure functions over a small
 * buffer: compiled into BPF programs and, unchanged, into host C++ for unit tests (include
 * <linux/types.h> first there). Conservative on purpose: missing the first message of a connection
 * is better than copying a connection that is not HTTP.
 *
 * Protocol ids are the registry's (src/protocols/common/interface.h): 0 unknown, 1 HTTP/1.x,
 * 2 HTTP/2 (gRPC included). */
#ifndef LOUPE_BPF_LIB_PROTOCOL_INFERENCE_H_
#define LOUPE_BPF_LIB_PROTOCOL_INFERENCE_H_

#ifdef __bpf__
#define LOUPE_INFER_INLINE static __always_inline
#else
#define LOUPE_INFER_INLINE static inline
#endif

/* Bytes inference looks at: the HTTP/2 client preface is the longest pattern. */
#define LOUPE_INFER_BYTES 24

enum loupe_protocol {
  LOUPE_PROTOCOL_UNKNOWN = 0,
  LOUPE_PROTOCOL_HTTP1 = 1,
  LOUPE_PROTOCOL_HTTP2 = 2,
};

enum loupe_message_type {
  LOUPE_MSG_UNKNOWN = 0,
  LOUPE_MSG_REQUEST = 1,
  LOUPE_MSG_RESPONSE = 2,
};

struct loupe_inference {
  __u8 protocol;     /* enum loupe_protocol */
  __u8 message_type; /* enum loupe_message_type */
};

/* Does buf (len valid bytes) start with the n (<= 8) bytes of `m`? */
LOUPE_INFER_INLINE int loupe__has_prefix(const __u8* buf, __u32 len, const char* m, __u32 n) {
  if (len < n) return 0;
  for (__u32 i = 0; i < 8; i++) {
    if (i >= n) break;
    if (buf[i] != (__u8)m[i]) return 0;
  }
  return 1;
}

/* The method `m` (n bytes, including the trailing space) followed by the start of a request
 * target: '/' (origin form) or 'h'/'H' (absolute form, "http://..."). */
LOUPE_INFER_INLINE int loupe__http1_method(const __u8* buf, __u32 len, const char* m, __u32 n) {
  if (len < n + 1 || !loupe__has_prefix(buf, len, m, n)) return 0;
  const __u8 c = buf[n];
  return c == '/' || c == 'h' || c == 'H';
}

LOUPE_INFER_INLINE int loupe__is_http1_request(const __u8* buf, __u32 len) {
  if (len < 5) return 0;
  switch (buf[0]) {
    case 'G':
      return loupe__http1_method(buf, len, "GET ", 4);
    case 'P':
      return loupe__http1_method(buf, len, "POST ", 5) ||
             loupe__http1_method(buf, len, "PUT ", 4) || loupe__http1_method(buf, len, "PATCH ", 6);
    case 'D':
      return loupe__http1_method(buf, len, "DELETE ", 7);
    case 'H':
      return loupe__http1_method(buf, len, "HEAD ", 5);
    case 'O':
      /* OPTIONS also takes the asterisk form: "OPTIONS * HTTP/1.1". */
      return loupe__http1_method(buf, len, "OPTIONS ", 8) ||
             (len >= 10 && loupe__has_prefix(buf, len, "OPTIONS ", 8) && buf[8] == '*' &&
              buf[9] == ' ');
    case 'C': {
      /* CONNECT takes the authority form ("CONNECT host:443"): any letter or digit after it. */
      if (len < 9 || !loupe__has_prefix(buf, len, "CONNECT ", 8)) return 0;
      const __u8 c = buf[8];
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '[';
    }
    case 'T':
      return loupe__http1_method(buf, len, "TRACE ", 6);
    default:
      return 0;
  }
}

/* "HTTP/1.0 200" or "HTTP/1.1 404": the status line up to the three status digits. */
LOUPE_INFER_INLINE int loupe__is_http1_response(const __u8* buf, __u32 len) {
  if (len < 12) return 0;
  if (buf[0] != 'H' || buf[1] != 'T' || buf[2] != 'T' || buf[3] != 'P' || buf[4] != '/' ||
      buf[5] != '1' || buf[6] != '.' || (buf[7] != '0' && buf[7] != '1') || buf[8] != ' ')
    return 0;
  return buf[9] >= '1' && buf[9] <= '5' && buf[10] >= '0' && buf[10] <= '9' && buf[11] >= '0' &&
         buf[11] <= '9';
}

/* The client connection preface "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" (24 bytes). */
LOUPE_INFER_INLINE int loupe__is_http2_preface(const __u8* buf, __u32 len) {
  if (len < LOUPE_INFER_BYTES) return 0;
  return loupe__has_prefix(buf, len, "PRI * HT", 8) &&
         loupe__has_prefix(buf + 8, 8, "TP/2.0\r\n", 8) &&
         loupe__has_prefix(buf + 16, 8, "\r\nSM\r\n\r\n", 8);
}

/* A plausible HTTP/2 frame header at the start of a call that moved `size` bytes: a known frame
 * type with a length, flags and stream id legal for that type, and the whole frame inside the
 * call. Used only for connections that began before the sensor (no preface to see); returns the
 * message type (HEADERS on an odd stream: request when sent by a client) or 0. */
LOUPE_INFER_INLINE int loupe__is_http2_frame(const __u8* buf, __u32 len, __u32 size) {
  if (len < 9) return 0;
  const __u32 length = ((__u32)buf[0] << 16) | ((__u32)buf[1] << 8) | buf[2];
  const __u8 type = buf[3];
  const __u8 flags = buf[4];
  const __u32 stream =
      (((__u32)buf[5] & 0x7f) << 24) | ((__u32)buf[6] << 16) | ((__u32)buf[7] << 8) | buf[8];
  if (buf[5] & 0x80) return 0; /* reserved bit */
  if (length > 16384 || 9 + length > size) return 0;
  switch (type) {
    case 0: /* DATA: END_STREAM, PADDED */
      return stream != 0 && (flags & ~0x09) == 0;
    case 1: /* HEADERS: END_STREAM, END_HEADERS, PADDED, PRIORITY */
      return stream != 0 && (flags & ~0x2d) == 0 && length > 0;
    case 3: /* RST_STREAM */
      return stream != 0 && length == 4 && flags == 0;
    case 4: /* SETTINGS: ACK */
      return stream == 0 && (flags & ~0x01) == 0 && length % 6 == 0 &&
             (!(flags & 0x01) || length == 0);
    case 6: /* PING: ACK */
      return stream == 0 && (flags & ~0x01) == 0 && length == 8;
    case 7: /* GOAWAY */
      return stream == 0 && flags == 0 && length >= 8;
    case 8: /* WINDOW_UPDATE */
      return length == 4 && flags == 0;
    default:
      return 0;
  }
}

/* Infers the protocol of a connection's data. `buf` holds the first `len` (<= LOUPE_INFER_BYTES)
 * bytes of a call that moved `size` bytes; `frames_ok` allows the HTTP/2 frame heuristic (for
 * connections whose start was not seen). */
LOUPE_INFER_INLINE struct loupe_inference loupe__infer_protocol(const __u8* buf, __u32 len,
                                                                __u32 size, int frames_ok) {
  struct loupe_inference result = {LOUPE_PROTOCOL_UNKNOWN, LOUPE_MSG_UNKNOWN};
  if (loupe__is_http2_preface(buf, len)) {
    result.protocol = LOUPE_PROTOCOL_HTTP2;
    result.message_type = LOUPE_MSG_REQUEST;
  } else if (loupe__is_http1_request(buf, len)) {
    result.protocol = LOUPE_PROTOCOL_HTTP1;
    result.message_type = LOUPE_MSG_REQUEST;
  } else if (loupe__is_http1_response(buf, len)) {
    result.protocol = LOUPE_PROTOCOL_HTTP1;
    result.message_type = LOUPE_MSG_RESPONSE;
  } else if (frames_ok && loupe__is_http2_frame(buf, len, size)) {
    result.protocol = LOUPE_PROTOCOL_HTTP2;
  }
  return result;
}

#endif /* LOUPE_BPF_LIB_PROTOCOL_INFERENCE_H_ */
