/* The design's ceiling: each request answers 202, commits one SQLite row update (WAL, the project's
 * synchronous setting) and, while steps are left, hands the next trigger to the process's dispatcher
 * thread, which POSTs it back through nginx on a curl multi handle: no worker waits for a trigger.
 * Table `chain (id INTEGER PRIMARY KEY, step INTEGER, updated_at INTEGER)` is made by the driver. */
#include <curl/curl.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define QUEUE 65536
static int listen_fd, steps;
static const char *db_path, *url, *synchronous;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long queue[QUEUE];  /* job ids waiting for their trigger */
static unsigned head, tail;
static CURLM *multi;

static size_t discard(char *data, size_t size, size_t count, void *unused) { (void)data, (void)unused; return size * count; }

static void *dispatcher(void *unused) {
    struct curl_slist *headers = curl_slist_append(curl_slist_append(NULL, "Content-Type: application/json"), "Expect:");
    CURL *idle[4096], *easy;
    int idle_count = 0, running, left;
    for (char body[64];; curl_multi_poll(multi, NULL, 0, 1000, NULL)) {
        pthread_mutex_lock(&lock);
        while (head != tail) {
            snprintf(body, sizeof body, "{\"jobId\":\"%ld\"}", queue[head++ % QUEUE]);
            easy = idle_count ? idle[--idle_count] : curl_easy_init();
            curl_easy_setopt(easy, CURLOPT_URL, url);
            curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
            curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
            curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body);
            curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard);
            curl_multi_add_handle(multi, easy);
        }
        pthread_mutex_unlock(&lock);
        curl_multi_perform(multi, &running);
        for (CURLMsg *done; (done = curl_multi_info_read(multi, &left));) {
            if (done->msg != CURLMSG_DONE) continue;
            curl_multi_remove_handle(multi, done->easy_handle);  /* kept for reuse, with its connection */
            if (idle_count < 4096) idle[idle_count++] = done->easy_handle; else curl_easy_cleanup(done->easy_handle);
        }
    }
    return unused;
}

static void *worker(void *unused) {
    sqlite3 *db; sqlite3_stmt *update;
    char text[128];
    sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL), sqlite3_busy_timeout(db, 5000);
    snprintf(text, sizeof text, "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;", synchronous);
    sqlite3_exec(db, text, NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "UPDATE chain SET step = step + 1, updated_at = ? WHERE id = ? RETURNING step", -1, &update, NULL);
    FCGX_Request request; FCGX_InitRequest(&request, listen_fd, 0);
    while (FCGX_Accept_r(&request) >= 0) {
        int length = FCGX_GetStr(text, sizeof text - 1, request.in), step = steps, code;
        text[length > 0 ? length : 0] = 0;
        long id = strtol(text + strcspn(text, "0123456789"), NULL, 10);
        FCGX_PutS("Status: 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"accepted\":true}", request.out);
        FCGX_Finish_r(&request);
        struct timeval now; gettimeofday(&now, NULL);
        sqlite3_bind_int64(update, 1, (sqlite3_int64)now.tv_sec * 1000 + now.tv_usec / 1000);
        sqlite3_bind_int64(update, 2, id);
        while ((code = sqlite3_step(update)) == SQLITE_ROW) step = sqlite3_column_int(update, 0);
        if (code != SQLITE_DONE) fprintf(stderr, "chain: job %ld: %s\n", id, sqlite3_errmsg(db));
        sqlite3_reset(update);
        if (step >= steps) continue;
        pthread_mutex_lock(&lock), queue[tail++ % QUEUE] = id, pthread_mutex_unlock(&lock);
        curl_multi_wakeup(multi);
    }
    return unused;
}

int main(int argc, char **argv) {
    if (argc != 8) return fprintf(stderr, "usage: chain SOCKET DB URL PROCESSES THREADS FULL|NORMAL STEPS\n"), 2;
    db_path = argv[2], url = argv[3], synchronous = argv[6], steps = atoi(argv[7]);
    FCGX_Init(), signal(SIGTERM, SIG_DFL), unlink(argv[1]);  /* libfcgi catches SIGTERM; here it simply ends us */
    if ((listen_fd = FCGX_OpenSocket(argv[1], 1024)) < 0) return fprintf(stderr, "cannot listen on %s\n", argv[1]), 1;
    chmod(argv[1], 0666);
    int processes = atoi(argv[4]), threads = atoi(argv[5]);
    for (int p = 1; p < processes; p++) if (fork() == 0) break;  /* children share the socket */
    curl_global_init(CURL_GLOBAL_DEFAULT), multi = curl_multi_init();
    pthread_t ids[257];
    pthread_create(&ids[256], NULL, dispatcher, NULL);
    for (int t = 0; t < threads && t < 256; t++) pthread_create(&ids[t], NULL, worker, NULL);
    for (int t = 0; t < threads && t < 256; t++) pthread_join(ids[t], NULL);
    return 0;
}
