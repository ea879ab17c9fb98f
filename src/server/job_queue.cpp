#include "server/job_queue.h"

#include <cstdio>

#include "core/tensor.h"
#include "pipeline/generate.h"

namespace diffuse::server {

std::optional<JobOutput> Job::wait_for(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  done_.wait_for(lock, timeout, [this] { return output_.has_value(); });
  return output_;
}

void Job::finish(JobOutput output) {
  {
    const std::lock_guard lock(mutex_);
    output_ = std::move(output);
  }
  done_.notify_all();
}

JobQueue::JobQueue(ModelHolder& models, int capacity)
    : models_(models), capacity_(capacity), worker_([this] { work(); }) {}

JobQueue::~JobQueue() { shutdown(); }

std::shared_ptr<Job> JobQueue::submit(ImageRequest request) {
  const std::lock_guard lock(mutex_);
  if (stopping_) throw QueueFull("the server is shutting down");
  if (int(queue_.size()) >= capacity_)
    throw QueueFull("the queue is full (" + std::to_string(capacity_) + " requests waiting); retry later");
  auto job = std::make_shared<Job>(next_id_++, std::move(request));
  queue_.push_back(job);
  wake_.notify_one();
  return job;
}

void JobQueue::interrupt() {
  const std::lock_guard lock(mutex_);
  if (running_) interrupt_ = true;
}

void JobQueue::cancel(const std::shared_ptr<Job>& job) {
  job->cancelled_ = true;
  const std::lock_guard lock(mutex_);
  if (std::erase(queue_, job)) std::fprintf(stderr, "job %d: cancelled (client gone) while queued\n", job->id);
}

void JobQueue::skip() {
  const std::lock_guard lock(mutex_);
  if (running_) skip_ = true;
}

QueueProgress JobQueue::progress() const {
  const std::lock_guard lock(mutex_);
  QueueProgress p;
  p.queued = int(queue_.size());
  if (!running_) return p;
  p.running = true;
  p.job_id = running_->id;
  p.image = image_;
  p.images = running_->request.images();
  p.step = step_;
  p.steps = steps_;
  p.elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  p.interrupted = interrupt_;
  p.skipped = skip_;
  p.denoised = denoised_;  // shares storage: the worker replaces, never writes into, denoised_
  return p;
}

double JobQueue::eta_seconds() const {
  const QueueProgress p = progress();
  return p.running && p.fraction() == 0 ? 10.0 : p.eta();  // a job not yet at its first step: a guess
}

void JobQueue::shutdown() {
  std::deque<std::shared_ptr<Job>> dropped;
  {
    const std::lock_guard lock(mutex_);
    if (stopping_ && !worker_.joinable()) return;
    stopping_ = true;
    interrupt_ = running_ != nullptr;
    dropped.swap(queue_);
  }
  wake_.notify_all();
  for (auto& job : dropped) job->finish({.error = "the server is shutting down", .shut_down = true});
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

void JobQueue::work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      job = queue_.front();
      queue_.pop_front();
      if (job->cancelled()) continue;  // its client left while it waited
      running_ = job;
      started_ = std::chrono::steady_clock::now();
      image_ = step_ = steps_ = 0;
      interrupt_ = skip_ = false;
      denoised_ = Tensor();
    }
    JobOutput output;
    try {
      output = run(*job);
    } catch (const std::exception& e) {
      output.error = e.what();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    std::fprintf(stderr, "job %d: seed %lld, %d steps, %dx%d, %zu image(s)%s%s, %.2f s\n", job->id,
                 (long long)job->request.options.seed, job->request.options.steps, job->request.options.width,
                 job->request.options.height, output.images.size(), output.interrupted ? ", interrupted" : "",
                 job->cancelled() ? ", cancelled (client gone)" : output.error.empty() ? "" : (", failed: " + output.error).c_str(),
                 seconds);
    {
      const std::lock_guard lock(mutex_);
      running_.reset();
      denoised_ = Tensor();
    }
    job->finish(std::move(output));
  }
}

JobOutput JobQueue::run(Job& job) {
  JobOutput out;
  const std::vector<LoraSpec>& loras = job.request.loras.specs;
  const StableDiffusion* loaded = nullptr;
  try {
    loaded = &models_.get(loras);
  } catch (const Error& e) {
    if (loras.empty()) throw;  // the checkpoint itself no longer loads: the server's fault
    out.error = e.what();
    out.bad_request = true;  // the named LoRAs do not fit the model, or their files are broken
    return out;
  }
  const StableDiffusion& model = *loaded;
  GenerateOptions options = job.request.options;
  for (int i = 0; i < job.request.images(); ++i) {
    options.seed = job.request.options.seed + i;
    {
      const std::lock_guard lock(mutex_);
      image_ = i;
      step_ = steps_ = 0;
      skip_ = false;
      denoised_ = Tensor();
      if (interrupt_) {
        out.interrupted = true;
        break;
      }
    }
    GenerateResult result;
    try {
      result = generate(model, options, [this, &job](const StepProgress& p) {
        const std::lock_guard lock(mutex_);
        step_ = p.done;
        steps_ = p.total;
        denoised_ = p.denoised;
        if (interrupt_ || skip_ || job.cancelled()) throw Stopped{};
      });
    } catch (const Stopped&) {
      if (job.cancelled()) return out;
      Tensor latest;
      {
        const std::lock_guard lock(mutex_);
        latest = denoised_;
        out.interrupted = interrupt_;
      }
      result = {};
      result.final_latents = latest;
      decode_latents(model, result, options);
    }
    out.images.push_back(std::move(result.image));
    out.seeds.push_back(options.seed);
  }
  return out;
}

}  // namespace diffuse::server
