#include <pthread.h>
#include "CFastCGI.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t wake_pipe = -1;
static volatile sig_atomic_t received_signal = 0;

static void on_shutdown_signal(int signo) {
    int saved_errno = errno;
    if (!received_signal) {
        received_signal = signo;
        FCGX_ShutdownPending();
        if (wake_pipe >= 0) {
            char byte = 1;
            ssize_t ignored = write(wake_pipe, &byte, 1);
            (void)ignored;
        }
    }
    errno = saved_errno;
}

static void on_interrupt(int signo) { (void)signo; }

static void set_stop_signals(int how) {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(how, &stop, NULL);
}

void vq_fcgi_hold_stop_signals(void) { set_stop_signals(SIG_BLOCK); }

int vq_fcgi_install_shutdown_handler(int wake_fd) {
    wake_pipe = wake_fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; /* no SA_RESTART: a blocked accept() must return */
    action.sa_handler = on_shutdown_signal;
    if (sigaction(SIGTERM, &action, NULL) != 0) return -1;
    if (sigaction(SIGINT, &action, NULL) != 0) return -1;
    if (sigaction(SIGHUP, &action, NULL) != 0) return -1;
    action.sa_handler = on_interrupt;
    if (sigaction(SIGUSR2, &action, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    /* A stop signal that arrived while the process was starting was held: it is delivered now. */
    set_stop_signals(SIG_UNBLOCK);
    return 0;
}

int vq_fcgi_shutdown_signal(void) { return received_signal; }

int vq_fcgi_interrupt_signal(void) { return SIGUSR2; }

int vq_fcgi_stop_with_parent(pid_t expected_parent) {
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) return -1;
    /* The parent may have died before the call: then nobody will send the signal. */
    if (getppid() != expected_parent) raise(SIGTERM);
    return 0;
}

int vq_process_keep_freed_memory(int bytes) {
    /* Setting the trim threshold freezes glibc's adaptive mmap threshold at 128 kB; raise that too,
       or every larger block would be mapped and unmapped on each use. */
    return mallopt(M_TRIM_THRESHOLD, bytes) && mallopt(M_MMAP_THRESHOLD, bytes);
}

int vq_fcgi_is_unix_socket(int fd) {
    struct sockaddr_storage address;
    socklen_t length = sizeof address;
    if (getsockname(fd, (struct sockaddr *)&address, &length) != 0) return 0;
    return address.ss_family == AF_UNIX;
}
