/* The FastCGI floor: a minimal libfcgi responder answering a fixed JSON body (the bytes of a real
 * status answer), with the same process/thread layout as the status binary: P processes sharing
 * one unix socket, T threads each looping on FCGX_Accept_r. Nothing else happens per request.
 *
 *   floor SOCKET BODY_FILE PROCESSES THREADS
 *
 * Stopped with SIGTERM to its process group (bench/run starts it in its own session). */
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int listen_fd;
static char *answer;
static int answer_len;

static void *worker(void *unused) {
    FCGX_Request request;
    FCGX_InitRequest(&request, listen_fd, 0);
    while (FCGX_Accept_r(&request) >= 0) {
        FCGX_PutStr(answer, answer_len, request.out);
        FCGX_Finish_r(&request);
    }
    return unused;
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: floor SOCKET BODY_FILE PROCESSES THREADS\n"); return 2; }
    FILE *file = fopen(argv[2], "rb");
    if (!file) { perror(argv[2]); return 1; }
    char body[65536];
    size_t body_len = fread(body, 1, sizeof body, file);
    fclose(file);
    answer = malloc(body_len + 256);
    answer_len = snprintf(answer, 256,
        "Status: 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n"
        "Content-Length: %zu\r\n\r\n", body_len);
    memcpy(answer + answer_len, body, body_len);
    answer_len += (int)body_len;

    FCGX_Init(), signal(SIGTERM, SIG_DFL), unlink(argv[1]);  /* libfcgi catches SIGTERM; here it simply ends us */
    listen_fd = FCGX_OpenSocket(argv[1], 1024);
    if (listen_fd < 0) { fprintf(stderr, "cannot listen on %s\n", argv[1]); return 1; }
    chmod(argv[1], 0666);
    int processes = atoi(argv[3]), threads = atoi(argv[4]);
    for (int p = 1; p < processes; p++) if (fork() == 0) break;  /* children share the socket */
    pthread_t ids[256];
    for (int t = 0; t < threads && t < 256; t++) pthread_create(&ids[t], NULL, worker, NULL);
    for (int t = 0; t < threads && t < 256; t++) pthread_join(ids[t], NULL);
    return 0;
}
