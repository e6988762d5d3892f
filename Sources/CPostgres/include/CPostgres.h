#ifndef VQ_CPOSTGRES_H
#define VQ_CPOSTGRES_H

/* libpq as Swift sees it. libpq itself is opened on first use (loader.c), not linked: a
   deployment on SQLite never maps it, nor the TLS and Kerberos libraries it brings. */
#include <postgresql/libpq-fe.h>

/// Why libpq could not be loaded, or NULL once it is (loading it first if need be). While it
/// cannot be, libpq's functions answer their failure values (NULL, CONNECTION_BAD, ...).
const char *vq_pq_load_error(void);

#endif
