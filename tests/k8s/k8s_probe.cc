// loupe_k8s_probe: runs a k8s::Cluster against a kubeconfig (or an in-cluster root) and reports
// on stdout, one JSON object per line, what the informers do: every add/update/delete (unless
// --quiet), "synced" when all caches are synced, and answers to commands read from stdin:
//   dump [Kind]      → {"type":"dump","caches":{Kind:{key:object}}}
//   status           → {"type":"status","informers":[...]}
//   stats            → {"type":"stats","rss_bytes":..,"heap_bytes":..,"counts":{Kind:{..}}}
//   workload ns/name → {"type":"workload","kind":..,"name":..}
//   quit
// Driven by tests/k8s/test_k8s_informers.py.
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"
#include "src/base/strings.h"
#include "src/k8s/cluster.h"

namespace loupe::k8s {
namespace {

std::mutex out_mu;

void Emit(const Json& j) {
  const std::string line = j.dump() + "\n";
  std::lock_guard<std::mutex> lock(out_mu);
  fwrite(line.data(), 1, line.size(), stdout);
  fflush(stdout);
}

struct Counts {
  std::atomic<uint64_t> add{0};
  std::atomic<uint64_t> update{0};
  std::atomic<uint64_t> del{0};
};

struct Args {
  std::string kubeconfig;
  std::string context;
  std::string in_cluster_root;
  std::string node_name;
  std::string disable;
  int64_t page_size = 500;
  int64_t min_watch_timeout_s = 300;
  int64_t initial_backoff_ms = 500;
  int64_t max_backoff_ms = 30000;
  bool quiet = false;
};

bool ParseArgs(int argc, char** argv, Args* args) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    auto number = [&](int64_t* out) {
      std::string text;
      return value(&text) && ParseInt(text, out);
    };
    bool ok = true;
    if (flag == "--kubeconfig") {
      ok = value(&args->kubeconfig);
    } else if (flag == "--context") {
      ok = value(&args->context);
    } else if (flag == "--in-cluster-root") {
      ok = value(&args->in_cluster_root);
    } else if (flag == "--node-name") {
      ok = value(&args->node_name);
    } else if (flag == "--disable") {
      ok = value(&args->disable);
    } else if (flag == "--page-size") {
      ok = number(&args->page_size);
    } else if (flag == "--min-watch-timeout-s") {
      ok = number(&args->min_watch_timeout_s);
    } else if (flag == "--initial-backoff-ms") {
      ok = number(&args->initial_backoff_ms);
    } else if (flag == "--max-backoff-ms") {
      ok = number(&args->max_backoff_ms);
    } else if (flag == "--quiet") {
      args->quiet = true;
    } else {
      ok = false;
    }
    if (!ok) {
      std::cerr << "bad or incomplete flag: " << flag << "\n";
      return false;
    }
  }
  return true;
}

template <typename T>
void Watch(Informer<T>* informer, bool quiet, std::map<std::string, Counts>* counts) {
  if (informer == nullptr) return;
  const std::string kind(T::kResource.kind);
  Counts* c = &(*counts)[kind];
  typename ObjectCache<T>::Handlers h;
  h.on_add = [=](const T& o) {
    ++c->add;
    if (!quiet) {
      Emit({{"type", "add"},
            {"kind", kind},
            {"key", o.meta.Key()},
            {"rv", o.meta.resource_version},
            {"object", ToJson(o)}});
    }
  };
  h.on_update = [=](const T& old_object, const T& o) {
    ++c->update;
    if (!quiet) {
      Emit({{"type", "update"},
            {"kind", kind},
            {"key", o.meta.Key()},
            {"old_rv", old_object.meta.resource_version},
            {"rv", o.meta.resource_version},
            {"object", ToJson(o)}});
    }
  };
  h.on_delete = [=](const T& o) {
    ++c->del;
    if (!quiet) {
      Emit({{"type", "delete"},
            {"kind", kind},
            {"key", o.meta.Key()},
            {"rv", o.meta.resource_version}});
    }
  };
  informer->cache().AddHandlers(std::move(h));
}

template <typename T>
void Dump(const Informer<T>* informer, const std::string& only, Json* caches) {
  if (informer == nullptr) return;
  const std::string kind(T::kResource.kind);
  if (!only.empty() && only != kind) return;
  Json objects = Json::object();
  for (const auto& object : informer->cache().List()) objects[object->meta.Key()] = ToJson(*object);
  (*caches)[kind] = std::move(objects);
}

int64_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0;
  int64_t resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

Json StatusJson(const InformerStatus& s) {
  return {{"kind", s.kind},
          {"synced", s.synced},
          {"connected", s.connected},
          {"resourceVersion", s.resource_version},
          {"lastError", s.last_error},
          {"objects", s.objects},
          {"lists", s.lists},
          {"relistsGone", s.relists_gone},
          {"watches", s.watches},
          {"events", s.events},
          {"bookmarks", s.bookmarks},
          {"errors", s.errors},
          {"decodeErrors", s.decode_errors}};
}

int Main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) return 2;
  // stdout carries the JSON lines; logs go to stderr.
  spdlog::set_default_logger(spdlog::stderr_color_mt("probe"));
  absl::StatusOr<ClientConfig> config =
      !args.kubeconfig.empty()
          ? LoadKubeconfig(args.kubeconfig, args.context)
          : InClusterConfig(
                [](const std::string& name) -> std::optional<std::string> {
                  const char* v = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
                  if (v == nullptr) return std::nullopt;
                  return std::string(v);
                },
                args.in_cluster_root.empty() ? kServiceAccountRoot : args.in_cluster_root);
  if (!config.ok()) {
    Emit({{"type", "error"}, {"message", std::string(config.status().message())}});
    return 1;
  }
  ClusterOptions options;
  options.node_name = args.node_name;
  std::vector<std::string> disabled;
  for (std::string_view kind : SplitSkipEmpty(args.disable, ',')) disabled.emplace_back(kind);
  absl::StatusOr<ClusterKinds> kinds = ClusterKinds::WithDisabled(disabled);
  if (!kinds.ok()) {
    Emit({{"type", "error"}, {"message", std::string(kinds.status().message())}});
    return 1;
  }
  options.kinds = *kinds;
  options.informer.page_size = args.page_size;
  options.informer.min_watch_timeout = std::chrono::seconds(args.min_watch_timeout_s);
  options.informer.initial_backoff = std::chrono::milliseconds(args.initial_backoff_ms);
  options.informer.max_backoff = std::chrono::milliseconds(args.max_backoff_ms);

  Cluster cluster(*config, options);
  std::map<std::string, Counts> counts;
  for (const char* kind : {"Pod", "Service", "EndpointSlice", "Node", "Namespace", "ReplicaSet",
                           "Deployment", "DaemonSet", "StatefulSet", "Job", "CronJob"}) {
    counts[kind];  // create every entry before threads start
  }
  Watch(&cluster.pods(), args.quiet, &counts);
  Watch(cluster.services(), args.quiet, &counts);
  Watch(cluster.endpoint_slices(), args.quiet, &counts);
  Watch(cluster.nodes(), args.quiet, &counts);
  Watch(cluster.namespaces(), args.quiet, &counts);
  Watch(cluster.replica_sets(), args.quiet, &counts);
  Watch(cluster.deployments(), args.quiet, &counts);
  Watch(cluster.daemon_sets(), args.quiet, &counts);
  Watch(cluster.stateful_sets(), args.quiet, &counts);
  Watch(cluster.jobs(), args.quiet, &counts);
  Watch(cluster.cron_jobs(), args.quiet, &counts);
  Emit({{"type", "started"}, {"source", config->source}, {"rss_bytes", RssBytes()}});
  cluster.Start();
  std::atomic<bool> done{false};
  std::thread sync_reporter([&] {
    while (!done.load()) {
      if (cluster.WaitForSync(std::chrono::milliseconds(100))) {
        Emit({{"type", "synced"}});
        return;
      }
    }
  });

  std::string line;
  while (std::getline(std::cin, line)) {
    const std::string_view command = StripWhitespace(line);
    if (command == "quit") break;
    if (command.substr(0, 4) == "dump") {
      const std::string only(StripWhitespace(command.substr(4)));
      Json caches = Json::object();
      Dump(&cluster.pods(), only, &caches);
      Dump(cluster.services(), only, &caches);
      Dump(cluster.endpoint_slices(), only, &caches);
      Dump(cluster.nodes(), only, &caches);
      Dump(cluster.namespaces(), only, &caches);
      Dump(cluster.replica_sets(), only, &caches);
      Dump(cluster.deployments(), only, &caches);
      Dump(cluster.daemon_sets(), only, &caches);
      Dump(cluster.stateful_sets(), only, &caches);
      Dump(cluster.jobs(), only, &caches);
      Dump(cluster.cron_jobs(), only, &caches);
      Emit({{"type", "dump"}, {"caches", std::move(caches)}});
    } else if (command == "status") {
      Json informers = Json::array();
      for (const InformerStatus& s : cluster.Status()) informers.push_back(StatusJson(s));
      Emit({{"type", "status"}, {"informers", std::move(informers)}});
    } else if (command == "stats") {
      Json c = Json::object();
      for (const auto& [kind, n] : counts) {
        c[kind] = {{"add", n.add.load()}, {"update", n.update.load()}, {"delete", n.del.load()}};
      }
      const struct mallinfo2 heap = mallinfo2();
      Emit({{"type", "stats"},
            {"rss_bytes", RssBytes()},
            {"heap_bytes", heap.uordblks + heap.hblkhd},
            {"counts", std::move(c)}});
    } else if (command.substr(0, 9) == "workload ") {
      const std::string key(StripWhitespace(command.substr(9)));
      auto pod = cluster.pods().cache().Get(key);
      if (pod == nullptr) {
        Emit({{"type", "workload"}, {"error", "no pod " + key}});
      } else {
        const Workload w = cluster.ResolveWorkload(*pod);
        Emit({{"type", "workload"}, {"kind", w.kind}, {"name", w.name}});
      }
    } else if (!command.empty()) {
      Emit({{"type", "error"}, {"message", "unknown command: " + std::string(command)}});
    }
  }
  done.store(true);
  sync_reporter.join();
  cluster.Stop();
  return 0;
}

}  // namespace
}  // namespace loupe::k8s

int main(int argc, char** argv) {
  try {
    return loupe::k8s::Main(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "loupe_k8s_probe: " << e.what() << "\n";
    return 3;
  }
}
