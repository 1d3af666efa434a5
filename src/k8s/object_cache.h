// The store behind an informer: compact objects of one kind keyed by "namespace/name", with
// OnAdd/OnUpdate/OnDelete handlers. Objects are immutable once stored and shared by pointer, so a
// reader's pointer stays valid after the object is replaced or deleted.
//
// Thread expectations: Get/List/Size from any thread. Replace/Upsert/Remove from the one informer
// thread; handlers run on that thread after the store is updated, outside the store's lock (they
// may read the cache). Add handlers before the informer starts.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace loupe::k8s {

template <typename T>
class ObjectCache {
 public:
  using Ptr = std::shared_ptr<const T>;

  struct Handlers {
    std::function<void(const T&)> on_add;
    std::function<void(const T& old_object, const T& new_object)> on_update;
    std::function<void(const T&)> on_delete;
  };

  void AddHandlers(Handlers handlers) { handlers_.push_back(std::move(handlers)); }

  Ptr Get(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(key);
    return it == objects_.end() ? nullptr : it->second;
  }

  std::vector<Ptr> List() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Ptr> out;
    out.reserve(objects_.size());
    for (const auto& [key, object] : objects_) out.push_back(object);
    return out;
  }

  size_t Size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return objects_.size();
  }

  // Inserts or replaces; an object with the resourceVersion already stored is a no-op (a watch
  // that restarts from an old version replays events the cache has). Returns true on change.
  bool Upsert(Ptr object) {
    std::string key = object->meta.Key();
    Ptr old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto [it, inserted] = objects_.try_emplace(std::move(key), object);
      if (!inserted) {
        if (it->second->meta.resource_version == object->meta.resource_version) return false;
        old = std::exchange(it->second, object);
      }
    }
    if (old == nullptr) {
      DispatchAdd(*object);
    } else {
      DispatchUpdate(*old, *object);
    }
    return true;
  }

  // Removes the object with this key; returns false when absent. The handler sees the last
  // stored state.
  bool Remove(const std::string& key) {
    Ptr old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = objects_.find(key);
      if (it == objects_.end()) return false;
      old = std::move(it->second);
      objects_.erase(it);
    }
    DispatchDelete(*old);
    return true;
  }

  // Replaces the whole content with a fresh list: adds for new keys, updates for changed
  // resourceVersions, deletes for keys that vanished (what happened while the watch was gone).
  struct ReplaceCounts {
    size_t added = 0;
    size_t updated = 0;
    size_t deleted = 0;
  };
  ReplaceCounts Replace(std::vector<Ptr> objects) {
    absl::flat_hash_map<std::string, Ptr> fresh;
    fresh.reserve(objects.size());
    for (Ptr& object : objects) {
      std::string key = object->meta.Key();
      fresh.insert_or_assign(std::move(key), std::move(object));
    }
    std::vector<Ptr> added;
    std::vector<std::pair<Ptr, Ptr>> updated;
    std::vector<Ptr> deleted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [key, object] : fresh) {
        auto it = objects_.find(key);
        if (it == objects_.end()) {
          added.push_back(object);
        } else if (it->second->meta.resource_version != object->meta.resource_version) {
          updated.emplace_back(it->second, object);
        }
      }
      for (const auto& [key, object] : objects_) {
        if (!fresh.contains(key)) deleted.push_back(object);
      }
      objects_ = std::move(fresh);
    }
    for (const Ptr& object : added) DispatchAdd(*object);
    for (const auto& [old_object, new_object] : updated) DispatchUpdate(*old_object, *new_object);
    for (const Ptr& object : deleted) DispatchDelete(*object);
    ReplaceCounts counts;
    counts.added = added.size();
    counts.updated = updated.size();
    counts.deleted = deleted.size();
    return counts;
  }

 private:
  void DispatchAdd(const T& object) const {
    for (const Handlers& h : handlers_) {
      if (h.on_add) h.on_add(object);
    }
  }
  void DispatchUpdate(const T& old_object, const T& new_object) const {
    for (const Handlers& h : handlers_) {
      if (h.on_update) h.on_update(old_object, new_object);
    }
  }
  void DispatchDelete(const T& object) const {
    for (const Handlers& h : handlers_) {
      if (h.on_delete) h.on_delete(object);
    }
  }

  mutable std::mutex mu_;
  absl::flat_hash_map<std::string, Ptr> objects_;
  std::vector<Handlers> handlers_;
};

}  // namespace loupe::k8s
