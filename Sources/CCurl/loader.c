#include "CCurl.h"
#include "loaded.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* libcurl is opened with dlopen on first use instead of being linked, because linking it maps
   and relocates libcurl and its dozen libraries (OpenSSL, GnuTLS, Kerberos, LDAP, ...) in every
   worker at start: about 6 MB of an idle worker's RSS, in processes (vision-status, or any worker
   before its first trigger) that may never send a request. The functions Swift calls keep
   libcurl's names, defined here with hidden visibility so that they bind inside this binary only
   and can never stand in for libcurl's own symbols. */

#define VQ_HIDDEN __attribute__((visibility("hidden")))

/* Every libcurl function this project calls: return type, name, parameters, arguments, and what
   to answer when libcurl could not be loaded. */
#define VQ_CURL_FUNCTIONS(X) \
    X(CURLcode, curl_global_init, (long flags), (flags), CURLE_FAILED_INIT) \
    X(CURL *, curl_easy_init, (void), (), NULL) \
    X(CURLcode, curl_easy_perform, (CURL *easy), (easy), CURLE_FAILED_INIT) \
    X(const char *, curl_easy_strerror, (CURLcode code), (code), "libcurl could not be loaded") \
    X(CURLM *, curl_multi_init, (void), (), NULL) \
    X(CURLMcode, curl_multi_add_handle, (CURLM *multi, CURL *easy), (multi, easy), CURLM_INTERNAL_ERROR) \
    X(CURLMcode, curl_multi_remove_handle, (CURLM *multi, CURL *easy), (multi, easy), CURLM_INTERNAL_ERROR) \
    X(CURLMcode, curl_multi_perform, (CURLM *multi, int *running), (multi, running), CURLM_INTERNAL_ERROR) \
    X(CURLMcode, curl_multi_poll, (CURLM *multi, struct curl_waitfd *fds, unsigned int count, int timeout, int *answered), \
      (multi, fds, count, timeout, answered), CURLM_INTERNAL_ERROR) \
    X(CURLMcode, curl_multi_wakeup, (CURLM *multi), (multi), CURLM_INTERNAL_ERROR) \
    X(CURLMcode, curl_multi_assign, (CURLM *multi, curl_socket_t socket, void *data), (multi, socket, data), CURLM_INTERNAL_ERROR) \
    X(CURLMsg *, curl_multi_info_read, (CURLM *multi, int *remaining), (multi, remaining), NULL) \
    X(CURLMcode, curl_multi_socket_action, (CURLM *multi, curl_socket_t socket, int mask, int *running), \
      (multi, socket, mask, running), CURLM_INTERNAL_ERROR) \
    X(struct curl_slist *, curl_slist_append, (struct curl_slist *list, const char *text), (list, text), NULL)

#define VQ_CURL_PROCEDURES(X) \
    X(curl_easy_cleanup, (CURL *easy), (easy)) \
    X(curl_easy_reset, (CURL *easy), (easy)) \
    X(curl_slist_free_all, (struct curl_slist *list), (list))

static struct {
#define VQ_POINTER(type, name, parameters, arguments, failed) type (*name) parameters;
#define VQ_PROCEDURE_POINTER(name, parameters, arguments) void (*name) parameters;
    VQ_CURL_FUNCTIONS(VQ_POINTER)
    VQ_CURL_PROCEDURES(VQ_PROCEDURE_POINTER)
    vq_curl_variadics variadic;
    int loaded;
    char error[256];
} curl;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *resolve(void *library, const char *name) {
    void *symbol = dlsym(library, name);
    if (!symbol && !curl.error[0]) snprintf(curl.error, sizeof curl.error, "libcurl lacks %s", name);
    return symbol;
}

static void load(void) {
    void *library = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *reason = dlerror();
        snprintf(curl.error, sizeof curl.error, "libcurl could not be loaded: %s", reason ? reason : "libcurl.so.4 not found");
        return;
    }
#define VQ_RESOLVE(type, name, parameters, arguments, failed) *(void **)&curl.name = resolve(library, #name);
#define VQ_RESOLVE_PROCEDURE(name, parameters, arguments) *(void **)&curl.name = resolve(library, #name);
    VQ_CURL_FUNCTIONS(VQ_RESOLVE)
    VQ_CURL_PROCEDURES(VQ_RESOLVE_PROCEDURE)
    *(void **)&curl.variadic.easy_setopt = resolve(library, "curl_easy_setopt");
    *(void **)&curl.variadic.easy_getinfo = resolve(library, "curl_easy_getinfo");
    *(void **)&curl.variadic.multi_setopt = resolve(library, "curl_multi_setopt");
    curl.loaded = !curl.error[0];
}

static int ready(void) {
    pthread_once(&once, load);
    return curl.loaded;
}

const char *vq_curl_load_error(void) {
    return ready() ? NULL : curl.error;
}

VQ_HIDDEN const vq_curl_variadics *vq_curl_variadic(void) {
    return ready() ? &curl.variadic : NULL;
}

#define VQ_FORWARD(type, name, parameters, arguments, failed) \
    VQ_HIDDEN type name parameters { return ready() ? curl.name arguments : failed; }
#define VQ_FORWARD_PROCEDURE(name, parameters, arguments) \
    VQ_HIDDEN void name parameters { if (ready()) curl.name arguments; }
VQ_CURL_FUNCTIONS(VQ_FORWARD)
VQ_CURL_PROCEDURES(VQ_FORWARD_PROCEDURE)
