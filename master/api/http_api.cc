#include "master/api/http_api.h"

#include <nlohmann/json.hpp>

#include <charconv>
#include <optional>

#include "common/token.h"
#include "master/api/api_json.h"
#include "master/api/page_cursor.h"

namespace gpulse::master {
namespace {

using nlohmann::json;

// Bytes that are not UTF-8 (a percent-encoded path or query value quoted in
// an error) become U+FFFD instead of making dump() throw, which would turn
// a 404 or 400 into a 500 (found by http_api_fuzzer).
void ReplyJson(HttpResponse& res, int status, const json& body) {
  res.status = status;
  res.SetContent(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

// A whole number written in decimal digits only, or nullopt.
std::optional<uint64_t> ParseWholeNumber(const std::string& text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

void ReplyError(HttpResponse& res, int status, const std::string& message) {
  ReplyJson(res, status, json{{"error", message}});
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk: return 200;
    case StatusCode::kInvalidArgument: return 400;
    case StatusCode::kUnauthenticated: return 401;
    case StatusCode::kPermissionDenied: return 403;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition: return 409;
    case StatusCode::kResourceExhausted: return 422;
    case StatusCode::kStorageFull: return 507;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kInternal: return 500;
  }
  return 500;
}

void HttpApi::Register(HttpServer& server) {
  access_.Install(server);
  server.SetErrorBody([](int status, const std::string& message, HttpResponse& res) {
    res = HttpResponse{};
    ReplyError(res, status, message);
  });

  server.Get("/healthz", [this](const HttpRequest&, HttpResponse& res) {
    ClusterCounts c = cluster_.Counts();
    json body = {{"status", "ok"},
                 {"workers", c.workers_healthy + c.workers_suspect + c.workers_dead},
                 {"workers_healthy", c.workers_healthy},
                 {"tasks_in_memory", c.tasks_in_memory},
                 {"finished_tasks_in_memory", c.finished_tasks_in_memory}};
    if (probe_ != nullptr) {
      if (Status store = probe_->Check(); !store.ok()) {
        body["status"] = "unhealthy";
        body["error"] = "the store cannot be written: " + store.message();
        return ReplyJson(res, 503, body);
      }
    }
    ReplyJson(res, 200, body);
  });
  auto bind = [this](void (HttpApi::*fn)(const HttpRequest&, HttpResponse&)) {
    return [this, fn](const HttpRequest& req, HttpResponse& res) { (this->*fn)(req, res); };
  };
  server.Get("/api/workers", bind(&HttpApi::ListWorkers));
  server.Get("/api/join", bind(&HttpApi::GetJoinCommand));
  server.Get("/api/workers/{id}", bind(&HttpApi::GetWorker));
  server.Post("/api/tasks", bind(&HttpApi::SubmitTask));
  server.Get("/api/tasks", bind(&HttpApi::ListTasks));
  server.Get("/api/tasks/{id}", bind(&HttpApi::GetTask));
  server.Get("/api/tasks/{id}/logs", bind(&HttpApi::GetTaskLogs));
  server.Post("/api/tasks/{id}/cancel", bind(&HttpApi::CancelTask));
  server.Post("/api/workers/{id}/drain", bind(&HttpApi::DrainWorker));
  server.Post("/api/workers/{id}/undrain", bind(&HttpApi::DrainWorker));
  server.Route("DELETE", "/api/workers/{id}/identity", bind(&HttpApi::ForgetWorkerIdentity));
  server.Post("/api/workers/{id}/gpus/{index}/clear", bind(&HttpApi::ClearGpu));
}

// Unpaged: the JSON array of every worker, by id. With ?limit= or
// ?cursor=: {"workers": [...], "next_cursor": "..." or null}, by id.
void HttpApi::ListWorkers(const HttpRequest& req, HttpResponse& res) {
  WallTime now = clock_.WallNow();
  if (!req.HasQuery("limit") && !req.HasQuery("cursor")) {
    json out = json::array();
    for (const Worker& w : cluster_.Workers()) out.push_back(WorkerToJson(w, now));
    return ReplyJson(res, 200, out);
  }
  auto limit = ParsePageLimit(req);
  if (!limit.ok()) return ReplyError(res, 400, limit.status().message());
  std::string after;
  if (req.HasQuery("cursor") && !req.Query("cursor").empty()) {
    std::optional<std::string> id = ParseWorkerCursor(req.Query("cursor"));
    if (!id) return ReplyError(res, 400, "cursor is not one this master gave out (pass next_cursor as is)");
    after = *id;
  }
  Cluster::WorkerPage page = cluster_.PageWorkers(after, *limit);
  json workers = json::array();
  for (const Worker& w : page.workers) workers.push_back(WorkerToJson(w, now));
  json next = page.more && !page.workers.empty() ? json(WorkerCursor(page.workers.back().id)) : json();
  ReplyJson(res, 200, {{"workers", std::move(workers)}, {"next_cursor", std::move(next)}});
}

// The join line for a new worker (admin only: it holds the cluster token).
// Never logged.
void HttpApi::GetJoinCommand(const HttpRequest&, HttpResponse& res) {
  if (!join_command_) {
    return ReplyError(res, 409, "this master has no join command: it serves plaintext (--insecure), so workers "
                                "join with --master HOST:PORT --insecure --token-file FILE");
  }
  auto line = join_command_();
  if (!line.ok()) return ReplyError(res, HttpStatusFor(line.status()), line.status().message());
  ReplyJson(res, 200, {{"command", *line}});
}

void HttpApi::GetWorker(const HttpRequest& req, HttpResponse& res) {
  auto w = cluster_.GetWorker(req.Param("id"));
  if (!w) return ReplyError(res, 404, "no worker '" + req.Param("id") + "'");
  ReplyJson(res, 200, WorkerToJson(*w, clock_.WallNow()));
}

void HttpApi::SubmitTask(const HttpRequest& req, HttpResponse& res) {
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return ReplyError(res, 400, "the body is not valid JSON");
  auto spec = TaskSpecFromJson(body);
  if (!spec.ok()) return ReplyError(res, 400, spec.status().message());
  auto options = SubmitOptionsFromJson(body);
  if (!options.ok()) return ReplyError(res, 400, options.status().message());
  auto task = cluster_.Submit(std::move(*spec), *options);
  if (!task.ok() && task.status().code() == StatusCode::kStorageFull) {
    return ReplyError(res, 507,
                      "the master's disk is full, so the task was not stored: free space in its data directory "
                      "and submit again (" + task.status().message() + ")");
  }
  if (!task.ok()) return ReplyError(res, HttpStatusFor(task.status()), task.status().message());
  ReplyJson(res, 201, TaskToJson(*task));
}

// Unpaged (neither ?limit= nor ?cursor=): the JSON array of every matching
// task in the master's memory (unfinished and recently finished), oldest
// first, as before paging existed. Paged: {"tasks": [...],
// "next_cursor": "..." or null}, newest first (see docs/api.md).
void HttpApi::ListTasks(const HttpRequest& req, HttpResponse& res) {
  std::optional<TaskState> state;
  if (req.HasQuery("state")) {
    state = ParseTaskState(req.Query("state"));
    if (!state) {
      return ReplyError(res, 400,
                        "unknown state '" + req.Query("state") +
                            "' (queued, assigned, running, succeeded, failed, cancelled)");
    }
  }
  const std::string worker = req.HasQuery("worker") ? req.Query("worker") : "";
  if (!req.HasQuery("limit") && !req.HasQuery("cursor")) {
    json out = json::array();
    for (const Task& t : cluster_.Tasks(state)) {
      if (worker.empty() || t.worker_id == worker) out.push_back(TaskToJson(t));
    }
    return ReplyJson(res, 200, out);
  }
  auto limit = ParsePageLimit(req);
  if (!limit.ok()) return ReplyError(res, 400, limit.status().message());
  Cluster::TaskQuery query{.state = state, .worker = worker, .before = 0, .limit = *limit};
  if (req.HasQuery("cursor") && !req.Query("cursor").empty()) {
    std::optional<uint64_t> before = ParseTaskCursor(req.Query("cursor"));
    if (!before) return ReplyError(res, 400, "cursor is not one this master gave out (pass next_cursor as is)");
    query.before = *before;
  }
  Result<Cluster::TaskPage> page = cluster_.PageTasks(query);
  if (!page.ok()) return ReplyError(res, HttpStatusFor(page.status()), page.status().message());
  json tasks = json::array();
  for (const Task& t : page->tasks) tasks.push_back(TaskToJson(t));
  ReplyJson(res, 200,
            {{"tasks", std::move(tasks)},
             {"next_cursor", page->next_before == 0 ? json() : json(TaskCursor(page->next_before))}});
}

void HttpApi::GetTask(const HttpRequest& req, HttpResponse& res) {
  auto t = cluster_.LookupTask(req.Param("id"));
  if (!t.ok()) return ReplyError(res, HttpStatusFor(t.status()), t.status().message());
  if (!*t) return ReplyError(res, 404, "no task '" + req.Param("id") + "'");
  ReplyJson(res, 200, TaskToJson(**t));
}

// Plain text of one attempt's ?stream= (stdout, the default, or stderr)
// from ?offset= (default 0), an offset in the stored log. ?attempt=N picks
// attempt N (1 … the task's attempts so far); without it the latest is
// served, which reads as empty while the task has not run. The headers say
// which attempt was served (X-Gpulse-Attempt, 0 for none yet), the latest
// one (X-Gpulse-Latest-Attempt), where to continue (X-Gpulse-Next-Offset)
// and the task's state (X-Gpulse-Task-State), so a follower can move on to
// a newer attempt and stop once the task has finished.
void HttpApi::GetTaskLogs(const HttpRequest& req, HttpResponse& res) {
  std::string id = req.Param("id");
  auto found = cluster_.LookupTask(id);
  if (!found.ok()) return ReplyError(res, HttpStatusFor(found.status()), found.status().message());
  std::optional<Task>& task = *found;
  if (!task) return ReplyError(res, 404, "no task '" + id + "'");
  std::string stream_name = req.HasQuery("stream") ? req.Query("stream") : "stdout";
  if (stream_name != "stdout" && stream_name != "stderr") {
    return ReplyError(res, 400, "stream must be stdout or stderr");
  }
  std::optional<uint64_t> offset = 0;
  if (req.HasQuery("offset")) {
    offset = ParseWholeNumber(req.Query("offset"));
    if (!offset) return ReplyError(res, 400, "offset must be a byte count");
  }
  uint32_t attempt = task->attempts;
  if (req.HasQuery("attempt")) {
    const std::string text = req.Query("attempt");
    std::optional<uint64_t> asked = ParseWholeNumber(text);
    if (!asked) return ReplyError(res, 400, "attempt must be a whole number (1 for the first)");
    if (*asked < 1 || *asked > task->attempts) {
      std::string why = "task '" + id + "' has no attempt " + text;
      if (task->attempts == 0) {
        why += ": it has not run yet";
      } else {
        why += ": it has had ";
        why += std::to_string(task->attempts);
        why += " attempt(s), numbered from 1";
      }
      return ReplyError(res, 404, why);
    }
    attempt = static_cast<uint32_t>(*asked);
  }
  LogStore::Slice slice{.data = {}, .next_offset = *offset};
  if (attempt > 0) {
    auto read = logs_.Read(id, attempt, stream_name == "stderr" ? LogStream::kStderr : LogStream::kStdout,
                           *offset, 4 << 20);
    if (!read.ok()) return ReplyError(res, HttpStatusFor(read.status()), read.status().message());
    slice = std::move(*read);
  }
  res.SetHeader("X-Gpulse-Attempt", std::to_string(attempt));
  res.SetHeader("X-Gpulse-Latest-Attempt", std::to_string(task->attempts));
  res.SetHeader("X-Gpulse-Next-Offset", std::to_string(slice.next_offset));
  res.SetHeader("X-Gpulse-Task-State", TaskStateName(task->state));
  res.status = 200;
  res.SetContent(std::move(slice.data), "text/plain; charset=utf-8");
}

void HttpApi::DrainWorker(const HttpRequest& req, HttpResponse& res) {
  auto worker = cluster_.SetDraining(req.Param("id"), req.path.ends_with("/drain"));
  if (!worker.ok()) return ReplyError(res, HttpStatusFor(worker.status()), worker.status().message());
  ReplyJson(res, 200, WorkerToJson(*worker, clock_.WallNow()));
}

void HttpApi::ForgetWorkerIdentity(const HttpRequest& req, HttpResponse& res) {
  if (identities_ == nullptr) {
    return ReplyError(res, 409,
                      "this master issues no worker certificates (an operator's CA, or --insecure): no worker id is "
                      "bound to a key");
  }
  const std::string& id = req.Param("id");
  if (Status forgot = identities_->Forget(id); !forgot.ok()) {
    return ReplyError(res, HttpStatusFor(forgot), forgot.message());
  }
  ReplyJson(res, 200, json{{"id", id}, {"forgotten", true}});
}

void HttpApi::ClearGpu(const HttpRequest& req, HttpResponse& res) {
  const std::string& text = req.Param("index");
  if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != std::string::npos) {
    return ReplyError(res, 404, "no GPU '" + text + "' (a GPU index is a number)");
  }
  const uint32_t index = static_cast<uint32_t>(std::stoul(text));
  auto gpu = cluster_.ClearGpuFaults(req.Param("id"), index);
  if (!gpu.ok()) return ReplyError(res, HttpStatusFor(gpu.status()), gpu.status().message());
  auto worker = cluster_.GetWorker(req.Param("id"));
  if (!worker) return ReplyError(res, 404, "no worker '" + req.Param("id") + "'");
  ReplyJson(res, 200, WorkerToJson(*worker, clock_.WallNow()));
}

void HttpApi::CancelTask(const HttpRequest& req, HttpResponse& res) {
  auto task = cluster_.Cancel(req.Param("id"));
  if (!task.ok()) return ReplyError(res, HttpStatusFor(task.status()), task.status().message());
  ReplyJson(res, 200, TaskToJson(*task));
}

}  // namespace gpulse::master
