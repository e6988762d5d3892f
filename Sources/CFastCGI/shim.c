#include "CFastCGI.h"

#include <signal.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t listen_socket = -1;
static volatile sig_atomic_t wake_pipe = -1;
static volatile sig_atomic_t received_signal = 0;

static void on_shutdown_signal(int signo) {
    int saved_errno = errno;
    if (!received_signal) {
        received_signal = signo;
        FCGX_ShutdownPending();
        if (listen_socket >= 0) shutdown(listen_socket, SHUT_RDWR);
        if (wake_pipe >= 0) {
            char byte = 1;
            ssize_t ignored = write(wake_pipe, &byte, 1);
            (void)ignored;
        }
    }
    errno = saved_errno;
}

int vq_fcgi_install_shutdown_handler(int listen_fd, int wake_fd) {
    listen_socket = listen_fd;
    wake_pipe = wake_fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_shutdown_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; /* no SA_RESTART: a blocked accept() must return */
    if (sigaction(SIGTERM, &action, NULL) != 0) return -1;
    if (sigaction(SIGINT, &action, NULL) != 0) return -1;
    if (sigaction(SIGHUP, &action, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int vq_fcgi_shutdown_signal(void) { return received_signal; }
