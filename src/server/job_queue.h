#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server/image_request.h"
#include "server/model_holder.h"

namespace diffuse::server {

// What a job made: image i has seed seeds[i]. An interrupted job holds the images finished before
// the interrupt and the one under way, decoded from its latest prediction.
struct JobOutput {
  std::vector<Image> images{};
  std::vector<int64_t> seeds{};
  bool interrupted = false;
  std::string error{};  // non-empty: the generation failed (an internal error, not the client's)
  bool shut_down = false;  // dropped from the queue by a shutdown, never run
  bool bad_request = false;  // the request's LoRAs could not be merged into the model (the loader's error)
};

class Job {
 public:
  Job(int id, ImageRequest request) : id(id), request(std::move(request)) {}
  const int id;
  const ImageRequest request;

  // Blocks up to `timeout` for the job to end; the output once it has.
  std::optional<JobOutput> wait_for(std::chrono::milliseconds timeout);
  bool cancelled() const { return cancelled_; }

 private:
  friend class JobQueue;
  void finish(JobOutput output);
  std::mutex mutex_;
  std::condition_variable done_;
  std::optional<JobOutput> output_;
  std::atomic<bool> cancelled_{false};
};

// Where the queue stands, for A1111's /progress.
struct QueueProgress {
  bool running = false;
  int job_id = 0, queued = 0;
  int image = 0, images = 0;  // the running job's image under way, of how many
  int step = 0, steps = 0;    // UNet evaluations of that image
  double elapsed = 0;         // seconds since the running job started
  bool interrupted = false, skipped = false;
  Tensor denoised;  // the latest predicted latents (empty before the first evaluation)

  // The running job's share done, 0..1 (A1111's progress), and the seconds it likely still needs.
  double fraction() const { return running && steps > 0 ? (image + double(step) / steps) / images : 0.0; }
  double eta() const { return fraction() > 0 ? elapsed / fraction() - elapsed : 0.0; }
};

// A bounded FIFO of generation jobs and one worker that runs them on the loaded model, one at a
// time: each generation already uses every core (OpenMP, oneDNN), so a second worker would only
// make both slower and double the activation memory. The worker asks `models` for the model with
// each job's LoRAs merged (a reload when they differ from the last job's).
class JobQueue {
 public:
  JobQueue(ModelHolder& models, int capacity);
  ~JobQueue();

  // Queues a request (seed already resolved); throws QueueFull when `capacity` jobs are waiting,
  // or once shut down.
  struct QueueFull : Error {
    using Error::Error;
  };
  std::shared_ptr<Job> submit(ImageRequest request);
  // A1111's interrupt (stop the running job after its current step) and skip (finish its current
  // image there and go on with the next).
  void interrupt();
  void skip();
  // The job's client is gone: a queued job leaves the queue, a running one stops after its step.
  void cancel(const std::shared_ptr<Job>& job);
  QueueProgress progress() const;
  // Seconds until the running job is likely done (0 when idle): a Retry-After for a full queue.
  double eta_seconds() const;
  // Interrupts the running job, fails the queued ones and stops the worker.
  void shutdown();

 private:
  struct Stopped {};  // thrown from the progress callback to end a sampling early
  void work();
  JobOutput run(Job& job);

  ModelHolder& models_;  // the worker's alone
  const int capacity_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool stopping_ = false;
  int next_id_ = 1;
  // The running job's state, under mutex_.
  std::shared_ptr<Job> running_;
  std::chrono::steady_clock::time_point started_;
  int image_ = 0, step_ = 0, steps_ = 0;
  bool interrupt_ = false, skip_ = false;
  Tensor denoised_;
  std::thread worker_;
};

}  // namespace diffuse::server
