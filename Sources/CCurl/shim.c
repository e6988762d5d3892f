#include "CCurl.h"

#include <stdlib.h>
#include <string.h>

CURLcode vq_curl_setopt_long(CURL *easy, CURLoption option, long value) {
    return curl_easy_setopt(easy, option, value);
}

CURLcode vq_curl_setopt_string(CURL *easy, CURLoption option, const char *value) {
    return curl_easy_setopt(easy, option, value);
}

CURLcode vq_curl_setopt_pointer(CURL *easy, CURLoption option, void *value) {
    return curl_easy_setopt(easy, option, value);
}

CURLcode vq_curl_getinfo_long(CURL *easy, CURLINFO info, long *value) {
    return curl_easy_getinfo(easy, info, value);
}

CURLcode vq_curl_getinfo_pointer(CURL *easy, CURLINFO info, void **value) {
    return curl_easy_getinfo(easy, info, value);
}

static size_t discard(char *data, size_t size, size_t count, void *context) {
    (void)data;
    (void)context;
    return size * count;
}

CURLcode vq_curl_discard_body(CURL *easy) {
    CURLcode code = curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
    if (code != CURLE_OK) return code;
    return curl_easy_setopt(easy, CURLOPT_WRITEDATA, NULL);
}

static size_t append(char *data, size_t size, size_t count, void *context) {
    vq_curl_buffer *buffer = context;
    size_t incoming = size * count;
    if (buffer->length + incoming > buffer->limit) return 0; /* aborts with CURLE_WRITE_ERROR */
    if (buffer->length + incoming > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 4096;
        while (capacity < buffer->length + incoming) capacity *= 2;
        char *grown = realloc(buffer->data, capacity);
        if (!grown) return 0;
        buffer->data = grown;
        buffer->capacity = capacity;
    }
    memcpy(buffer->data + buffer->length, data, incoming);
    buffer->length += incoming;
    return incoming;
}

CURLcode vq_curl_capture_body(CURL *easy, vq_curl_buffer *buffer) {
    CURLcode code = curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, append);
    if (code != CURLE_OK) return code;
    return curl_easy_setopt(easy, CURLOPT_WRITEDATA, buffer);
}

void vq_curl_buffer_free(vq_curl_buffer *buffer) {
    free(buffer->data);
    buffer->data = NULL;
    buffer->length = 0;
    buffer->capacity = 0;
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
