#ifndef VQ_CFASTCGI_H
#define VQ_CFASTCGI_H

#include <fcgiapp.h>
#include <sys/types.h>

/// Installs the handlers a graceful stop needs. SIGTERM, SIGINT and SIGHUP set libfcgi's shutdown
/// flag and write one byte to `wake_fd`, so the main thread can start the stop. SIGUSR2 does
/// nothing but interrupt a blocking accept() (no SA_RESTART): the main thread sends it to idle
/// worker threads, whose FCGX_Accept_r then returns (they were initialised with
/// FCGI_FAIL_ACCEPT_ON_INTR). The listening socket itself is left alone: it may be shared with a
/// supervisor that hands it to the next process. Everything done in a handler is async-signal-safe.
int vq_fcgi_install_shutdown_handler(int wake_fd);

/// The signal that asked for the stop, 0 while none has arrived.
int vq_fcgi_shutdown_signal(void);

/// Holds SIGTERM, SIGINT and SIGHUP until `vq_fcgi_install_shutdown_handler` is in place, so a
/// stop that arrives while the process is still starting is a clean stop, not a kill. Call first.
void vq_fcgi_hold_stop_signals(void);

/// The signal used to interrupt a worker blocked in accept().
int vq_fcgi_interrupt_signal(void);

/// Asks the kernel to send SIGTERM to this process when the process that started it dies (a
/// supervisor killed with SIGKILL cannot stop its children itself). Returns 0 on success.
int vq_fcgi_stop_with_parent(pid_t expected_parent);

/// Lets each malloc arena keep up to `bytes` of freed memory instead of handing it back to the
/// kernel on every free(), and serve blocks below `bytes` from the arenas rather than from fresh
/// mappings. With glibc's default (128 kB, adjusted on the fly) a worker thread
/// gave memory back and took it again on nearly every request (an madvise and an mprotect per
/// category step, measured with strace), each a page-table change every thread's CPU pays for.
/// Answers 1 on success. (mallopt is in <malloc.h>, which Swift's Glibc module does not export.)
int vq_process_keep_freed_memory(int bytes);

/// 1 when `fd` is a unix-domain socket. There a responder may close a finished connection at
/// once: the lingering close libfcgi does (shutdown, then poll and read until the web server
/// closes its side) guards against a TCP reset discarding the response, which a unix socket
/// never sends.
int vq_fcgi_is_unix_socket(int fd);

#endif
