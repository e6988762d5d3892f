#include "CPostgres.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* libpq is opened with dlopen on first use instead of being linked, so that every worker of a
   SQLite deployment, and every worker before its first query, skips mapping and relocating libpq
   and its libraries (OpenSSL, Kerberos, LDAP, ...). The functions Swift calls keep libpq's names,
   defined here with hidden visibility so that they bind inside this binary only and can never
   stand in for libpq's own symbols. */

#define VQ_HIDDEN __attribute__((visibility("hidden")))

/* Every libpq function this project calls: return type, name, parameters, arguments, and what to
   answer when libpq could not be loaded. */
#define VQ_PQ_FUNCTIONS(X) \
    X(PGconn *, PQconnectdb, (const char *info), (info), NULL) \
    X(ConnStatusType, PQstatus, (const PGconn *connection), (connection), CONNECTION_BAD) \
    X(char *, PQerrorMessage, (const PGconn *connection), (connection), (char *)"libpq could not be loaded") \
    X(PGresult *, PQexec, (PGconn *connection, const char *query), (connection, query), NULL) \
    X(PGresult *, PQprepare, (PGconn *connection, const char *name, const char *query, int count, const Oid *types), \
      (connection, name, query, count, types), NULL) \
    X(PGresult *, PQexecPrepared, (PGconn *connection, const char *name, int count, const char *const *values, \
      const int *lengths, const int *formats, int format), (connection, name, count, values, lengths, formats, format), NULL) \
    X(ExecStatusType, PQresultStatus, (const PGresult *result), (result), PGRES_FATAL_ERROR) \
    X(char *, PQresultErrorMessage, (const PGresult *result), (result), (char *)"libpq could not be loaded") \
    X(char *, PQresultErrorField, (const PGresult *result, int code), (result, code), NULL) \
    X(char *, PQcmdTuples, (PGresult *result), (result), (char *)"") \
    X(int, PQntuples, (const PGresult *result), (result), 0) \
    X(char *, PQgetvalue, (const PGresult *result, int row, int column), (result, row, column), NULL) \
    X(int, PQgetisnull, (const PGresult *result, int row, int column), (result, row, column), 1)

#define VQ_PQ_PROCEDURES(X) \
    X(PQclear, (PGresult *result), (result)) \
    X(PQfinish, (PGconn *connection), (connection))

static struct {
#define VQ_POINTER(type, name, parameters, arguments, failed) type (*name) parameters;
#define VQ_PROCEDURE_POINTER(name, parameters, arguments) void (*name) parameters;
    VQ_PQ_FUNCTIONS(VQ_POINTER)
    VQ_PQ_PROCEDURES(VQ_PROCEDURE_POINTER)
    int loaded;
    char error[256];
} pq;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void *resolve(void *library, const char *name) {
    void *symbol = dlsym(library, name);
    if (!symbol && !pq.error[0]) snprintf(pq.error, sizeof pq.error, "libpq lacks %s", name);
    return symbol;
}

static void load(void) {
    void *library = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *reason = dlerror();
        snprintf(pq.error, sizeof pq.error, "libpq could not be loaded: %s", reason ? reason : "libpq.so.5 not found");
        return;
    }
#define VQ_RESOLVE(type, name, parameters, arguments, failed) *(void **)&pq.name = resolve(library, #name);
#define VQ_RESOLVE_PROCEDURE(name, parameters, arguments) *(void **)&pq.name = resolve(library, #name);
    VQ_PQ_FUNCTIONS(VQ_RESOLVE)
    VQ_PQ_PROCEDURES(VQ_RESOLVE_PROCEDURE)
    pq.loaded = !pq.error[0];
}

static int ready(void) {
    pthread_once(&once, load);
    return pq.loaded;
}

const char *vq_pq_load_error(void) {
    return ready() ? NULL : pq.error;
}

#define VQ_FORWARD(type, name, parameters, arguments, failed) \
    VQ_HIDDEN type name parameters { return ready() ? pq.name arguments : failed; }
#define VQ_FORWARD_PROCEDURE(name, parameters, arguments) \
    VQ_HIDDEN void name parameters { if (ready()) pq.name arguments; }
VQ_PQ_FUNCTIONS(VQ_FORWARD)
VQ_PQ_PROCEDURES(VQ_FORWARD_PROCEDURE)
