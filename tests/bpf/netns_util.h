// Sockets inside a test network namespace: a helper thread joins the namespace (setns only
// affects the calling thread), creates the socket and hands the fd back; the socket stays in
// that namespace whichever thread uses it afterwards.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace loupe::testing {

inline int InNetns(const std::string& ns, const std::function<int()>& fn) {
  int result = -1;
  std::thread t([&] {
    const int fd = open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    if (setns(fd, CLONE_NEWNET) == 0) result = fn();
    close(fd);
  });
  t.join();
  return result;
}

inline uint64_t NetnsInode(const std::string& ns) {
  struct stat st {};
  return stat(("/run/netns/" + ns).c_str(), &st) == 0 ? st.st_ino : 0;
}

inline sockaddr_in Ipv4(const std::string& ip, uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  return addr;
}

// A TCP listener on ip:port inside `ns`; -1 on failure.
inline int ListenInNetns(const std::string& ns, const std::string& ip, uint16_t port) {
  return InNetns(ns, [&] {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr = Ipv4(ip, port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 8) != 0) {
      close(fd);
      return -1;
    }
    return fd;
  });
}

inline uint16_t LocalPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

}  // namespace loupe::testing
