#ifndef VQ_CCURL_H
#define VQ_CCURL_H

#include <curl/curl.h>
#include <stddef.h>

/* libcurl as Swift sees it. libcurl itself is opened on first use (loader.c), not linked: a
   worker that never sends a request never maps it. curl_easy_setopt and curl_easy_getinfo are variadic, which Swift
   cannot call: typed, non-variadic doors to them come first; then the body sinks (one that drops
   the body, one that streams it to Swift), the multi handle's finished-transfer reader, and the
   epoll loop that drives the self-trigger (event_loop.c). */
/// Why libcurl could not be loaded, or NULL once it is (loading it first if need be). While it
/// cannot be, libcurl's functions answer their failure values (NULL, CURLE_FAILED_INIT, ...).
const char *vq_curl_load_error(void);

CURLcode vq_curl_setopt_long(CURL *easy, CURLoption option, long value);
CURLcode vq_curl_setopt_string(CURL *easy, CURLoption option, const char *value);
CURLcode vq_curl_setopt_pointer(CURL *easy, CURLoption option, void *value);
CURLcode vq_curl_getinfo_long(CURL *easy, CURLINFO info, long *value);
CURLcode vq_curl_getinfo_pointer(CURL *easy, CURLINFO info, void **value);

/// Makes `easy` drop whatever body the server sends back.
CURLcode vq_curl_discard_body(CURL *easy);

/// Receives a transfer's bytes as they arrive: `kind` 0 for body bytes, 1 for one header line.
/// Answers 0 to abort the transfer (it then ends with CURLE_WRITE_ERROR), anything else to go on.
typedef int (*vq_curl_receiver)(void *context, int kind, const char *data, size_t length);

/// Where a streamed transfer delivers; must outlive the transfer.
typedef struct vq_curl_stream {
    vq_curl_receiver receiver;
    void *context;
} vq_curl_stream;

/// Makes `easy` hand its body and header lines to `stream` as they arrive.
CURLcode vq_curl_stream_to(CURL *easy, vq_curl_stream *stream);

/// Reads the next finished transfer off a multi handle: 1 and fills `easy`/`result` when there
/// is one, 0 when none is left.
int vq_curl_multi_next_done(CURLM *multi, CURL **easy, CURLcode *result);

/// A curl multi handle driven through epoll (`curl_multi_socket_action`): a wake-up costs in
/// proportion to the sockets that are ready, where `curl_multi_poll` + `curl_multi_perform` walk
/// every transfer in flight. One thread runs the loop; `vq_curl_loop_wake` may come from any.
typedef struct vq_curl_loop vq_curl_loop;

/// Takes over `multi`'s socket and timer callbacks; NULL when epoll or eventfd are unavailable.
vq_curl_loop *vq_curl_loop_create(CURLM *multi);
/// Ends the current (or next) `vq_curl_loop_run` wait early; safe from any thread.
void vq_curl_loop_wake(vq_curl_loop *loop);
/// Waits up to `max_wait_ms` (less when curl's own timer falls due sooner) for ready sockets, a
/// wake-up or a timeout, and lets curl act on them. Answers the transfers still running.
/// Finished transfers are then read with `vq_curl_multi_next_done`.
int vq_curl_loop_run(vq_curl_loop *loop, int max_wait_ms);

#endif
