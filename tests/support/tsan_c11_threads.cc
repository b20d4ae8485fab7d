// Linked into every executable of a ThreadSanitizer build (scripts/sanitize
// thread), never into a release build.
//
// librdkafka creates its threads and takes its locks through C11 <threads.h>
// (thrd_create, mtx_lock, cnd_wait, call_once). glibc implements those by
// calling its pthread functions internally, which the sanitizer runtimes of
// GCC 12 and clang 14 do not intercept (C11 thread interceptors came with
// LLVM 15): a thread librdkafka starts is unknown to ThreadSanitizer, which
// crashes in its allocator on the thread's first malloc, and its locks order
// nothing. These definitions take precedence over glibc's for librdkafka
// (the executable's symbols come first) and forward to the pthread
// functions, which ThreadSanitizer does intercept.

#include <errno.h>
#include <pthread.h>
#include <threads.h>

#include <cstdint>
#include <ctime>

namespace {

struct Start {
  thrd_start_t func;
  void* arg;
};

void* RunC11Thread(void* p) {
  const Start start = *static_cast<Start*>(p);
  delete static_cast<Start*>(p);
  return reinterpret_cast<void*>(static_cast<intptr_t>(start.func(start.arg)));
}

int Result(int err) {
  switch (err) {
    case 0:
      return thrd_success;
    case ETIMEDOUT:
      return thrd_timedout;
    case EBUSY:
      return thrd_busy;
    case ENOMEM:
    case EAGAIN:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

pthread_mutex_t* Mutex(mtx_t* m) { return reinterpret_cast<pthread_mutex_t*>(m); }
pthread_cond_t* Cond(cnd_t* c) { return reinterpret_cast<pthread_cond_t*>(c); }

}  // namespace

extern "C" {

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  auto* start = new Start{func, arg};
  const int err = pthread_create(thr, nullptr, RunC11Thread, start);
  if (err != 0) delete start;
  return Result(err);
}

int thrd_join(thrd_t thr, int* res) {
  void* value = nullptr;
  const int err = pthread_join(thr, &value);
  if (err == 0 && res != nullptr) *res = static_cast<int>(reinterpret_cast<intptr_t>(value));
  return Result(err);
}

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(
      &attr, (type & mtx_recursive) != 0 ? PTHREAD_MUTEX_RECURSIVE : PTHREAD_MUTEX_NORMAL);
  const int err = pthread_mutex_init(Mutex(m), &attr);
  pthread_mutexattr_destroy(&attr);
  return Result(err);
}

int mtx_lock(mtx_t* m) { return Result(pthread_mutex_lock(Mutex(m))); }
int mtx_unlock(mtx_t* m) { return Result(pthread_mutex_unlock(Mutex(m))); }
void mtx_destroy(mtx_t* m) { pthread_mutex_destroy(Mutex(m)); }

int cnd_init(cnd_t* c) { return Result(pthread_cond_init(Cond(c), nullptr)); }
int cnd_signal(cnd_t* c) { return Result(pthread_cond_signal(Cond(c))); }
int cnd_broadcast(cnd_t* c) { return Result(pthread_cond_broadcast(Cond(c))); }
int cnd_wait(cnd_t* c, mtx_t* m) { return Result(pthread_cond_wait(Cond(c), Mutex(m))); }
int cnd_timedwait(cnd_t* c, mtx_t* m, const struct timespec* abstime) {
  return Result(pthread_cond_timedwait(Cond(c), Mutex(m), abstime));
}
void cnd_destroy(cnd_t* c) { pthread_cond_destroy(Cond(c)); }

void call_once(once_flag* flag, void (*func)(void)) {
  pthread_once(reinterpret_cast<pthread_once_t*>(flag), func);
}

}  // extern "C"
