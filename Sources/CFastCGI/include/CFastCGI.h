#ifndef VQ_CFASTCGI_H
#define VQ_CFASTCGI_H

#include <fcgiapp.h>

/// Installs SIGTERM/SIGINT/SIGHUP handlers that make every thread blocked in FCGX_Accept_r return:
/// they set libfcgi's shutdown flag, shut the listening socket down (which, unlike close(), wakes
/// accept() in other threads on Linux) and write one byte to `wake_fd` so the main thread can
/// start its graceful stop. Everything done in the handler is async-signal-safe.
int vq_fcgi_install_shutdown_handler(int listen_fd, int wake_fd);

/// The signal that triggered the shutdown, 0 while none has arrived.
int vq_fcgi_shutdown_signal(void);

#endif
