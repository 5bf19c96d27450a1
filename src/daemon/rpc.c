/* RPC error code names (rpc.h), shared by the daemon and the client. */
#include <string.h>

#include "rpc.h"

static const char *const code_names[VK_RPC_E_COUNT] = {
    [VK_RPC_OK] = "ok",
    [VK_RPC_E_INVALID] = "invalid-request",
    [VK_RPC_E_NO_METHOD] = "no-method",
    [VK_RPC_E_DENIED] = "access-denied",
    [VK_RPC_E_NO_DOMAIN] = "no-domain",
    [VK_RPC_E_NO_NETWORK] = "no-network",
    [VK_RPC_E_EXISTS] = "exists",
    [VK_RPC_E_XML] = "xml-error",
    [VK_RPC_E_STATE] = "operation-invalid",
    [VK_RPC_E_UNSUPPORTED] = "unsupported",
    [VK_RPC_E_FAILED] = "operation-failed",
    [VK_RPC_E_INTERNAL] = "internal-error",
    [VK_RPC_E_VERSION] = "version-mismatch",
};

const char *vk_rpc_code_name(enum vk_rpc_code code)
{
    if ((unsigned)code >= VK_RPC_E_COUNT)
        return "internal-error";
    return code_names[code];
}

enum vk_rpc_code vk_rpc_code_from_name(const char *name)
{
    for (unsigned i = 0; name && i < VK_RPC_E_COUNT; i++)
        if (!strcmp(code_names[i], name))
            return (enum vk_rpc_code)i;
    return VK_RPC_E_INTERNAL;
}

