/* virtkitd RPC: THE API between the daemon and every client (the CLI is one).
 *
 * Transport: a SOCK_STREAM UNIX socket; each message is ONE JSON object
 * (json-c) on ONE line terminated by '\n'. Messages larger than
 * VK_RPC_MAX_MESSAGE are refused and the connection is closed.
 *
 *   request   {"id": N, "method": "domain.start", "params": {...}}
 *   response  {"id": N, "result": {...}}
 *          or {"id": N, "error": {"code": "no-domain", "errno": 2,
 *                                  "message": "Domain not found: ..."}}
 *   event     {"event": "domain.lifecycle", "data": {...}}   (no id)
 *
 * `id` is any integer chosen by the client and echoed back. Requests on one
 * connection are answered in order. Events are only sent after
 * "events.subscribe" and may arrive between responses; clients skip them
 * while waiting for a response (client.c does).
 *
 * Versioning: VK_RPC_PROTOCOL is bumped on incompatible changes; new
 * methods, new optional params and new result members are compatible
 * additions. "daemon.hello" returns the protocol number; a client may send
 * {"params": {"protocol": N}} and gets "version-mismatch" if the daemon
 * cannot speak N.
 *
 * Access (SO_PEERCRED): on the read-write socket, peers with uid 0, the
 * daemon's own uid, or membership of group "virtkit" may call every method;
 * other peers, and every peer on the read-only socket, may only call methods
 * marked read-only in the dispatch tables (queries). Refusals answer
 * "access-denied".
 *
 * The per-method request/response shapes are documented in docs/rpc.md; the
 * method names are below so handlers and clients share the spelling.
 */
#ifndef VK_RPC_H
#define VK_RPC_H

#define VK_RPC_PROTOCOL 1
#define VK_RPC_MAX_MESSAGE (4u << 20)   /* one line, bytes */

/* Error codes: the "code" member of an error. Stable strings. */
enum vk_rpc_code {
    VK_RPC_OK = 0,
    VK_RPC_E_INVALID,        /* "invalid-request": malformed JSON, bad params  */
    VK_RPC_E_NO_METHOD,      /* "no-method": unknown method                     */
    VK_RPC_E_DENIED,         /* "access-denied": peer may not call this method  */
    VK_RPC_E_NO_DOMAIN,      /* "no-domain": no domain with that name/uuid/id   */
    VK_RPC_E_NO_NETWORK,     /* "no-network"                                    */
    VK_RPC_E_EXISTS,         /* "exists": name or uuid already in use           */
    VK_RPC_E_XML,            /* "xml-error": XML does not parse or validate     */
    VK_RPC_E_STATE,          /* "operation-invalid": wrong state (e.g. running) */
    VK_RPC_E_UNSUPPORTED,    /* "unsupported": valid but not implemented        */
    VK_RPC_E_FAILED,         /* "operation-failed": the host refused (spawn...) */
    VK_RPC_E_INTERNAL,       /* "internal-error"                                */
    VK_RPC_E_VERSION,        /* "version-mismatch"                              */
    VK_RPC_E_COUNT
};

/* code <-> string ("no-domain"); unknown strings map to VK_RPC_E_INTERNAL */
const char *vk_rpc_code_name(enum vk_rpc_code code);
enum vk_rpc_code vk_rpc_code_from_name(const char *name);

/* ---- method names (params -> result in docs/rpc.md) ------------------- */
/* daemon / host (read-only) */
#define VK_RPC_HELLO            "daemon.hello"        /* {protocol?} -> {protocol, version, uri, readonly, privileged} */
#define VK_RPC_HOSTNAME         "node.hostname"       /* -> {hostname} */
#define VK_RPC_NODEINFO         "node.info"           /* -> {model, memory_kib, cpus, mhz, nodes, sockets, cores, threads} */
#define VK_RPC_CAPABILITIES     "node.capabilities"   /* -> {xml} */
#define VK_RPC_SUBSCRIBE        "events.subscribe"    /* -> {}; then events arrive */
/* domains: "domain" param = name, uuid string or numeric id (as a string) */
#define VK_RPC_DOM_LIST         "domain.list"         /* {} -> {domains: [info...]} */
#define VK_RPC_DOM_INFO         "domain.info"         /* {domain} -> info */
#define VK_RPC_DOM_XML          "domain.xml"          /* {domain, inactive?} -> {xml} */
#define VK_RPC_DOM_DEFINE       "domain.define"       /* {xml} -> info (+ "updated": bool) */
#define VK_RPC_DOM_UNDEFINE     "domain.undefine"     /* {domain, remove_all_storage?, managed_save?} -> {} */
#define VK_RPC_DOM_CREATE       "domain.create"       /* {xml, paused?} -> info (transient) */
#define VK_RPC_DOM_START        "domain.start"        /* {domain, paused?} -> info */
#define VK_RPC_DOM_SHUTDOWN     "domain.shutdown"     /* {domain, mode?: "acpi"} -> {} */
#define VK_RPC_DOM_REBOOT       "domain.reboot"       /* {domain, mode?} -> {} */
#define VK_RPC_DOM_RESET        "domain.reset"        /* {domain} -> {} */
#define VK_RPC_DOM_DESTROY      "domain.destroy"      /* {domain, graceful?} -> {} */
#define VK_RPC_DOM_SUSPEND      "domain.suspend"      /* {domain} -> {} */
#define VK_RPC_DOM_RESUME       "domain.resume"       /* {domain} -> {} */
#define VK_RPC_DOM_AUTOSTART    "domain.autostart"    /* {domain, enable} -> {} */
#define VK_RPC_DOM_IFLIST       "domain.interfaces"   /* {domain, inactive?} -> {interfaces: [...]} */
#define VK_RPC_DOM_IFADDR       "domain.ifaddr"       /* {domain} -> {interfaces: [{name, mac, addrs:[{type,addr,prefix}]}]} */
#define VK_RPC_DOM_BLKLIST      "domain.disks"        /* {domain, inactive?} -> {disks: [...]} */
#define VK_RPC_DOM_BLKINFO      "domain.blkinfo"      /* {domain, device} -> {capacity, allocation, physical} */
#define VK_RPC_DOM_ATTACH_IF    "domain.attach-interface" /* {domain, type, source, model?, mac?, target?, config?, live?} -> {mac} */
#define VK_RPC_DOM_DETACH_IF    "domain.detach-interface" /* {domain, type, mac?, config?, live?} -> {} */
#define VK_RPC_DOM_SETMEM       "domain.set-memory"   /* {domain, kib, config?, live?, max?} -> {} */
#define VK_RPC_DOM_MEMSTATS     "domain.memory-stats" /* {domain} -> {actual?, rss?} (KiB) */
#define VK_RPC_DOM_SETVCPUS     "domain.set-vcpus"    /* {domain, count, config?, live?, maximum?} -> {} */
#define VK_RPC_DOM_CONSOLE      "domain.console"      /* {domain, force?} -> {}; then the connection
                                                        becomes a raw byte relay to the guest serial */

/* ---- events ------------------------------------------------------------- */
/* {"event": "domain.lifecycle", "data": {"name", "uuid", "id", "event",
 *  "detail", "state", "reason"}}; "event" is one of defined, undefined,
 *  started, suspended, resumed, stopped, shutdown, crashed (as libvirt's
 *  lifecycle events), "detail" the libvirt detail word (booted, destroyed...). */
#define VK_EVENT_DOMAIN_LIFECYCLE "domain.lifecycle"
/* Networks (issue 8) use "network.lifecycle" with {name, uuid, event}. */
#define VK_EVENT_NETWORK_LIFECYCLE "network.lifecycle"

#endif
