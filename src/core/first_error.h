#pragma once
#include <exception>

namespace diffuse {

// An exception must not leave an OpenMP parallel region: each task of the region runs through
// run(), which keeps the first failure, and rethrow() raises it once the region has ended.
class FirstError {
 public:
  template <class Task>
  void run(Task&& task) noexcept {
    try {
      task();
    } catch (...) {
#pragma omp critical(diffuse_first_error)
      if (!error_) error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::exception_ptr error_;
};

}  // namespace diffuse
