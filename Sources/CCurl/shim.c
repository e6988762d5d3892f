#include "CCurl.h"
#include "loaded.h"

CURLcode vq_curl_setopt_long(CURL *easy, CURLoption option, long value) {
    return VQ_CURL_VARIADIC(easy_setopt, CURLE_FAILED_INIT, easy, option, value);
}

CURLcode vq_curl_setopt_string(CURL *easy, CURLoption option, const char *value) {
    return VQ_CURL_VARIADIC(easy_setopt, CURLE_FAILED_INIT, easy, option, value);
}

CURLcode vq_curl_setopt_pointer(CURL *easy, CURLoption option, void *value) {
    return VQ_CURL_VARIADIC(easy_setopt, CURLE_FAILED_INIT, easy, option, value);
}

CURLcode vq_curl_getinfo_long(CURL *easy, CURLINFO info, long *value) {
    return VQ_CURL_VARIADIC(easy_getinfo, CURLE_FAILED_INIT, easy, info, value);
}

CURLcode vq_curl_getinfo_pointer(CURL *easy, CURLINFO info, void **value) {
    return VQ_CURL_VARIADIC(easy_getinfo, CURLE_FAILED_INIT, easy, info, value);
}

static size_t discard(char *data, size_t size, size_t count, void *context) {
    (void)data;
    (void)context;
    return size * count;
}

CURLcode vq_curl_discard_body(CURL *easy) {
    CURLcode code = VQ_CURL_VARIADIC(easy_setopt, CURLE_FAILED_INIT, easy, CURLOPT_WRITEFUNCTION, discard);
    if (code != CURLE_OK) return code;
    return VQ_CURL_VARIADIC(easy_setopt, CURLE_FAILED_INIT, easy, CURLOPT_WRITEDATA, NULL);
}

static size_t stream_body(char *data, size_t size, size_t count, void *context) {
    vq_curl_stream *stream = context;
    size_t length = size * count;
    return stream->receiver(stream->context, 0, data, length) ? length : 0;
}

static size_t stream_header(char *data, size_t size, size_t count, void *context) {
    vq_curl_stream *stream = context;
    size_t length = size * count;
    return stream->receiver(stream->context, 1, data, length) ? length : 0;
}

CURLcode vq_curl_stream_to(CURL *easy, vq_curl_stream *stream) {
    CURLcode code = VQ_CURL_VARIADIC(easy_setopt, CURLE_FAILED_INIT, easy, CURLOPT_WRITEFUNCTION, stream_body);
    if (code == CURLE_OK) code = VQ_CURL_VARIADIC(easy_setopt, CURLE_FAILED_INIT, easy, CURLOPT_WRITEDATA, stream);
    if (code == CURLE_OK) code = VQ_CURL_VARIADIC(easy_setopt, CURLE_FAILED_INIT, easy, CURLOPT_HEADERFUNCTION, stream_header);
    if (code == CURLE_OK) code = VQ_CURL_VARIADIC(easy_setopt, CURLE_FAILED_INIT, easy, CURLOPT_HEADERDATA, stream);
    return code;
}

int vq_curl_multi_next_done(CURLM *multi, CURL **easy, CURLcode *result) {
    int remaining = 0;
    CURLMsg *message;
    while ((message = curl_multi_info_read(multi, &remaining)) != NULL) {
        if (message->msg == CURLMSG_DONE) {
            *easy = message->easy_handle;
            *result = message->data.result;
            return 1;
        }
    }
    return 0;
}
