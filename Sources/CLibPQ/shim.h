#ifndef NOTIFY_CLIBPQ_SHIM_H
#define NOTIFY_CLIBPQ_SHIM_H
/* -I/usr/include/postgresql comes from pkg-config libpq. */
#include <libpq-fe.h>
#endif
