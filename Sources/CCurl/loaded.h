#ifndef VQ_CCURL_LOADED_H
#define VQ_CCURL_LOADED_H

#include <curl/curl.h>

/* libcurl's variadic functions, which only this target's C calls (Swift reaches them through the
   typed doors in CCurl.h). */
typedef struct {
    CURLcode (*easy_setopt)(CURL *easy, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *easy, CURLINFO info, ...);
    CURLMcode (*multi_setopt)(CURLM *multi, CURLMoption option, ...);
} vq_curl_variadics;

/* The variadic functions once libcurl is loaded; NULL when it could not be. */
__attribute__((visibility("hidden"))) const vq_curl_variadics *vq_curl_variadic(void);

/* Calls one of them, or answers `failed` when libcurl could not be loaded. */
#define VQ_CURL_VARIADIC(function, failed, ...) \
    (vq_curl_variadic() ? vq_curl_variadic()->function(__VA_ARGS__) : (failed))

#endif
