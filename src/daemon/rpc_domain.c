/* RPC area "domain" (being written). */
#include "daemon.h"
#include "dispatch.h"

static const struct rpc_method domain_methods[] = {
    { NULL, false, NULL },
};

const struct rpc_area rpc_area_domain = {
    .name = "domain",
    .methods = domain_methods,
};
