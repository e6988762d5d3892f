#include "CCurl.h"
#include "loaded.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* libcurl's multi_socket interface on epoll, as curl's own ephiperfifo.c example drives it: curl
   says which sockets it waits on (socket callback) and when it next needs a timeout call (timer
   callback); epoll reports only the sockets that are ready. Swift's Glibc module exports neither
   epoll nor eventfd, hence C. */
struct vq_curl_loop {
    CURLM *multi;
    int epoll;
    int wake;        /* eventfd: other threads' way to end a wait early */
    long long timer; /* monotonic ms when curl wants CURL_SOCKET_TIMEOUT; -1: no timer */
    int running;
};

static long long now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static int on_socket(CURL *easy, curl_socket_t socket, int what, void *context, void *watched) {
    (void)easy;
    vq_curl_loop *loop = context;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(loop->epoll, EPOLL_CTL_DEL, socket, NULL); /* may already be closed: ignored */
        return 0;
    }
    struct epoll_event event = {0};
    event.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
    event.data.fd = socket;
    if (epoll_ctl(loop->epoll, watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, socket, &event) != 0) {
        /* A reused descriptor number or a socket epoll forgot on close: the other operation. */
        epoll_ctl(loop->epoll, watched ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, socket, &event);
    }
    curl_multi_assign(loop->multi, socket, loop); /* any non-null marks it as watched */
    return 0;
}

static int on_timer(CURLM *multi, long timeout_ms, void *context) {
    (void)multi;
    vq_curl_loop *loop = context;
    loop->timer = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
    return 0;
}

vq_curl_loop *vq_curl_loop_create(CURLM *multi) {
    vq_curl_loop *loop = calloc(1, sizeof *loop);
    if (!loop) return NULL;
    loop->multi = multi;
    loop->timer = -1;
    loop->epoll = epoll_create1(EPOLL_CLOEXEC);
    loop->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event event = {.events = EPOLLIN, .data.fd = loop->wake};
    if (loop->epoll < 0 || loop->wake < 0 || epoll_ctl(loop->epoll, EPOLL_CTL_ADD, loop->wake, &event) != 0) {
        if (loop->epoll >= 0) close(loop->epoll);
        if (loop->wake >= 0) close(loop->wake);
        free(loop);
        return NULL;
    }
    (void)VQ_CURL_VARIADIC(multi_setopt, CURLM_INTERNAL_ERROR, multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    (void)VQ_CURL_VARIADIC(multi_setopt, CURLM_INTERNAL_ERROR, multi, CURLMOPT_SOCKETDATA, loop);
    (void)VQ_CURL_VARIADIC(multi_setopt, CURLM_INTERNAL_ERROR, multi, CURLMOPT_TIMERFUNCTION, on_timer);
    (void)VQ_CURL_VARIADIC(multi_setopt, CURLM_INTERNAL_ERROR, multi, CURLMOPT_TIMERDATA, loop);
    return loop;
}

void vq_curl_loop_wake(vq_curl_loop *loop) {
    uint64_t one = 1;
    ssize_t written = write(loop->wake, &one, sizeof one); /* EAGAIN: a wake-up is pending anyway */
    (void)written;
}

int vq_curl_loop_run(vq_curl_loop *loop, int max_wait_ms) {
    enum { batch = 64 };
    struct epoll_event events[batch];
    int timeout = max_wait_ms;
    if (loop->timer >= 0) {
        long long left = loop->timer - now_ms();
        if (left < timeout) timeout = left < 0 ? 0 : (int)left;
    }
    int count = epoll_wait(loop->epoll, events, batch, timeout);
    for (int i = 0; i < count; i++) {
        int fd = events[i].data.fd;
        if (fd == loop->wake) {
            uint64_t value;
            ssize_t drained = read(loop->wake, &value, sizeof value);
            (void)drained;
            continue;
        }
        int flags = (events[i].events & EPOLLIN ? CURL_CSELECT_IN : 0) | (events[i].events & EPOLLOUT ? CURL_CSELECT_OUT : 0)
                    | (events[i].events & (EPOLLERR | EPOLLHUP) ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action(loop->multi, fd, flags, &loop->running);
    }
    if (loop->timer >= 0 && loop->timer <= now_ms()) {
        loop->timer = -1; /* curl sets a new one from inside the call if it needs one */
        curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &loop->running);
    }
    return loop->running;
}
