/*
 * sched/net.c -- the public network and file API (rt_net_*, rt_conn_*,
 * rt_listener_*, rt_file_*), on the poller of netpoll.c.
 *
 * Every operation is Go's: try the non-blocking system call first, and
 * park on the socket's poll descriptor only when it says EAGAIN -- with
 * one exception, nginx's: a read that returned fewer bytes than it asked
 * for has emptied the socket, so the next read of that conn waits for
 * readiness before it tries.  In a request-response exchange the peer has
 * not answered yet when the server comes back to read, and Go's order
 * spends a failing read(2) per message on finding that out (the echo
 * benchmark: 2 reads per round trip, now 1, as a raw epoll server).  The
 * wait costs nothing when the poller has seen data meanwhile (PD_READY),
 * and uv_poll is level-triggered, so data that came before the wait is
 * reported by the next poll: nothing is lost, only a read that would have
 * succeeded at once waits for that poll (at once if an idle M sleeps in
 * the loop, else when a P runs out of goroutines, or at sysmon's poll
 * after 10 ms if none does: the wait of any parked reader).  A read that
 * filled its buffer, or saw the end of the stream or an error, does not
 * count.  Sockets
 * are made non-blocking and close-on-exec at birth; TCP connections get
 * TCP_NODELAY and listeners SO_REUSEADDR, as Go sets them.
 *
 * Objects.  rt_conn and rt_listener live in the GC heap (noscan: they hold
 * no GC pointer, only their malloc'd poll descriptor).  Go's fdMutex in
 * small: `state` counts the operations in progress plus one reference for
 * "open", and its top bit says closed.  An operation takes a reference
 * (failing with -ECANCELED once closed), so the descriptor outlives every
 * operation that started; close sets the bit, wakes the parked operations
 * (rt__pollfd_evict: they return -ECANCELED) and drops "open"; whoever
 * drops the last reference releases the descriptor to the loop, which
 * closes the fd; the closer, and every operation that ends after the
 * close began, returns only once the fd is closed (conn_release_ex), as
 * Go's Close and decref do.  The object itself stays valid for as long as the program
 * holds it (the collector frees it), so a call on a closed conn is not a
 * use after free: it returns -ECANCELED.  A conn dropped without close is
 * closed by its finalizer, as Go's netFD is.  Concurrent reads (or writes)
 * of one conn are serialised by a mutex per direction, as Go's are.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <uv.h>

#include "sched/sched.h"

#define CONN_CLOSED ((uint64_t)1 << 63)

enum { NET_TCP, NET_TCP4, NET_TCP6, NET_UNIX };

struct rt_conn {
    _Atomic uint64_t state; /* CONN_CLOSED | references (see the essay) */
    rt__pollfd *pd;
    int fd;
    int family;
    rt_mutex rmu, wmu;      /* one reader, one writer at a time */
    /* The last read was short: it emptied the socket, so the next one
     * waits for readiness before it tries (see rt_conn_read).  Reader
     * only, under rmu. */
    bool rdrained;
};

struct rt_listener {
    struct rt_conn c;
    char unlink_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

/* ------------------------------------------------------ references ---- */

static bool conn_acquire(struct rt_conn *c)
{
    uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);
    do {
        if (s & CONN_CLOSED)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&c->state, &s, s + 1,
                                                    memory_order_acquire,
                                                    memory_order_relaxed));
    return true;
}

/* Drops a reference; the last one has the loop close the fd.  A caller
 * that finds the conn closing waits until the fd is closed (unless
 * !may_wait: a finalizer), the closer included, as Go's Close and the
 * operations it wakes do: an accept woken by a close returned while the
 * listener still took dials, and its address could not be listened on
 * again, for up to 100 us (an outside tester's find).  The entry is made
 * while our reference still keeps the descriptor from the loop. */
static void conn_release_ex(struct rt_conn *c, bool may_wait)
{
    rt__pollfd *pd = c->pd;
    rt__close_waiter w;
    bool wait = may_wait &&
                (atomic_load_explicit(&c->state, memory_order_acquire) & CONN_CLOSED) &&
                rt__pollfd_close_prepare(pd, &w);
    uint64_t s = atomic_fetch_sub_explicit(&c->state, 1, memory_order_acq_rel) - 1;
    if (s == CONN_CLOSED)
        rt__pollfd_release(pd); /* the last reference: close the fd */
    if (wait)
        rt__pollfd_close_wait(&w);
}

static void conn_release(struct rt_conn *c)
{
    conn_release_ex(c, true);
}

/* Close: 0, or -ECANCELED if it was closed already.  Returns once the
 * fd is closed (conn_release_ex), except in a finalizer (!wait), which
 * has nobody to return to. */
static int conn_close_ex(struct rt_conn *c, bool wait)
{
    uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);
    do {
        if (s & CONN_CLOSED)
            return -ECANCELED;
    } while (!atomic_compare_exchange_weak_explicit(&c->state, &s, s | CONN_CLOSED,
                                                    memory_order_acq_rel,
                                                    memory_order_relaxed));
    /* "open" is still ours: the descriptor is alive while we wake. */
    rt__pollfd_evict(c->pd);
    conn_release_ex(c, wait);
    return 0;
}

static int conn_close(struct rt_conn *c)
{
    return conn_close_ex(c, true);
}

static void conn_finalize(void *obj)
{
    (void)conn_close_ex(obj, false);
}

static void listener_finalize(void *obj)
{
    struct rt_listener *l = obj;
    if (conn_close_ex(&l->c, false) == 0 && l->unlink_path[0] != '\0')
        (void)unlink(l->unlink_path);
}

/* Wraps fd (non-blocking already) in c; closes fd on failure. */
static int conn_init(struct rt_conn *c, int fd, int family)
{
    c->pd = rt__pollfd_open(fd);
    if (c->pd == NULL) {
        close(fd);
        return -ENOMEM;
    }
    c->fd = fd;
    c->family = family;
    atomic_store_explicit(&c->state, 1, memory_order_release);
    return 0;
}

static int conn_new(int fd, int family, rt_conn **out)
{
    if (family != AF_UNIX) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    struct rt_conn *c = rt_alloc_noscan(sizeof *c);
    int err = conn_init(c, fd, family);
    if (err != 0)
        return err;
    rt_set_finalizer(c, conn_finalize);
    *out = c;
    return 0;
}

/* ------------------------------------------------------- addresses ---- */

static int parse_network(const char *network)
{
    if (network == NULL)
        return -EINVAL;
    if (strcmp(network, "tcp") == 0)
        return NET_TCP;
    if (strcmp(network, "tcp4") == 0)
        return NET_TCP4;
    if (strcmp(network, "tcp6") == 0)
        return NET_TCP6;
    if (strcmp(network, "unix") == 0)
        return NET_UNIX;
    return -EINVAL;
}

/* A TCP service name's port, as Go's LookupPort("tcp", name): Go's own
 * table first (so the common names work on a system without
 * /etc/services), then the services database; case-insensitive. */
static int service_port(const char *name, int *port)
{
    static const struct {
        const char *name;
        int port;
    } known[] = {{"ftp", 21},     {"ftps", 990},  {"gopher", 70}, {"http", 80},
                 {"https", 443},  {"imap2", 143}, {"imap3", 220}, {"imaps", 993},
                 {"pop3", 110},   {"pop3s", 995}, {"smtp", 25},   {"ssh", 22},
                 {"telnet", 23}};
    char lower[33];
    size_t n = strlen(name);
    if (n == 0 || n >= sizeof lower)
        return -EINVAL;
    for (size_t i = 0; i <= n; i++)
        lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(lower, known[i].name) == 0) {
            *port = known[i].port;
            return 0;
        }
    struct servent se, *r = NULL;
    char buf[1024];
    if (getservbyname_r(lower, "tcp", &se, buf, sizeof buf, &r) != 0 || r == NULL)
        return -EINVAL; /* Go: "unknown port" */
    *port = ntohs((uint16_t)r->s_port);
    return 0;
}

/* Splits "host:port", "[v6]:port" or ":port" (Go's SplitHostPort); the
 * port may be a service name. */
static int split_host_port(const char *address, char *host, size_t hostcap,
                           int *port)
{
    const char *colon = strrchr(address, ':');
    if (colon == NULL)
        return -EINVAL;
    const char *h = address, *hend = colon;
    if (address[0] == '[') {
        const char *rb = strchr(address, ']');
        if (rb == NULL || rb + 1 != colon)
            return -EINVAL;
        h = address + 1;
        hend = rb;
    } else if (memchr(address, ':', (size_t)(colon - address)) != NULL) {
        return -EINVAL; /* too many colons: IPv6 wants brackets */
    }
    size_t hl = (size_t)(hend - h);
    if (hl >= hostcap)
        return -EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    const char *p = colon + 1;
    if (*p == '\0')
        return -EINVAL;
    if (*p < '0' || *p > '9')
        return service_port(p, port); /* "host:http", as Go's LookupPort */
    long v = 0;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        v = v * 10 + (*p - '0');
        if (v > 65535)
            return -EINVAL;
    }
    *port = (int)v;
    return 0;
}

/* At most this many addresses of a name are tried. */
#define MAX_ADDRS 8

typedef struct addr_list {
    int n;
    struct sockaddr_storage a[MAX_ADDRS];
    socklen_t len[MAX_ADDRS];
} addr_list;

static void addr_put(addr_list *al, const struct sockaddr *sa, socklen_t len)
{
    if (al->n < MAX_ADDRS) {
        memcpy(&al->a[al->n], sa, len);
        al->len[al->n] = len;
        al->n++;
    }
}

static int resolver_errno(int e)
{
    switch (e) {
    case UV_EAI_NONAME:
    case UV_EAI_NODATA:
    case UV_EAI_FAMILY:
        return -ENOENT;
    case UV_EAI_AGAIN:
        return -EAGAIN;
    case UV_EAI_MEMORY:
        return -ENOMEM;
    case UV_EAI_CANCELED:
        return -ECANCELED;
    default:
        return e < 0 && e > -4096 ? e : -EINVAL; /* a plain -errno */
    }
}

/*
 * The addresses of a TCP host:port.  IP literals (and the empty host: the
 * wildcard for listen, the local system for dial, as Go) are parsed here;
 * names are resolved on libuv's thread pool while the goroutine parks.
 */
static int tcp_addrs(int net, const char *address, bool listen, addr_list *al)
{
    char host[256];
    int port;
    int err = split_host_port(address, host, sizeof host, &port);
    if (err != 0)
        return err;
    al->n = 0;
    struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    /* A listener on an unspecified address is the wildcard whatever its
     * spelling, as Go's: "tcp" on 0.0.0.0 listens dual-stack on [::], and
     * "tcp4" on [::] on 0.0.0.0 (but "tcp6" on 0.0.0.0 is an error). */
    if (listen && (strcmp(host, "::") == 0 || (strcmp(host, "0.0.0.0") == 0 && net != NET_TCP6)))
        host[0] = '\0';
    if (host[0] == '\0') {
        if (listen) {
            s4.sin_addr.s_addr = htonl(INADDR_ANY);
            s6.sin6_addr = in6addr_any;
        } else {
            s4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            s6.sin6_addr = in6addr_loopback;
        }
        /* "tcp": IPv6 first (dual-stack for a listener), IPv4 as fallback. */
        if (net != NET_TCP4)
            addr_put(al, (struct sockaddr *)&s6, sizeof s6);
        if (net != NET_TCP6)
            addr_put(al, (struct sockaddr *)&s4, sizeof s4);
        return 0;
    }
    if (inet_pton(AF_INET, host, &s4.sin_addr) == 1) {
        if (net == NET_TCP6)
            return -EAFNOSUPPORT;
        addr_put(al, (struct sockaddr *)&s4, sizeof s4);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &s6.sin6_addr) == 1) {
        if (net == NET_TCP4)
            return -EAFNOSUPPORT;
        addr_put(al, (struct sockaddr *)&s6, sizeof s6);
        return 0;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    hints.ai_family = net == NET_TCP4 ? AF_INET : net == NET_TCP6 ? AF_INET6 : AF_UNSPEC;
    char service[8];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo *res = NULL;
    err = rt__netpoll_getaddrinfo(host, service, &hints, &res);
    if (err != 0)
        return resolver_errno(err);
    /* A listener takes one address, IPv4 first (as Go's Listen does); a
     * dial tries them in the resolver's order. */
    for (int pass = 0; pass < 2; pass++) {
        for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
            if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                continue;
            if (listen && (pass == 0) != (ai->ai_family == AF_INET))
                continue;
            if (!listen && pass == 1)
                continue;
            addr_put(al, ai->ai_addr, ai->ai_addrlen);
        }
    }
    rt__netpoll_freeaddrinfo(res);
    if (al->n == 0)
        return -ENOENT;
    if (listen)
        al->n = 1;
    return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof sa->sun_path)
        return -EINVAL;
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, n);
    if (path[0] == '@')
        sa->sun_path[0] = '\0'; /* Linux abstract namespace, as Go spells it */
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    return 0;
}

static int new_socket(int family)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

/* ---------------------------------------------------------- listen ---- */

static int listen_backlog(void)
{
    /* Go reads somaxconn too; the kernel caps the value at it anyway. */
    static _Atomic int cached;
    int b = atomic_load_explicit(&cached, memory_order_relaxed);
    if (b > 0)
        return b;
    b = 4096;
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    if (f != NULL) {
        int v;
        if (fscanf(f, "%d", &v) == 1 && v > 0)
            b = v > 65535 ? 65535 : v;
        fclose(f);
    }
    atomic_store_explicit(&cached, b, memory_order_relaxed);
    return b;
}

static int listen_fd(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (bind(fd, sa, len) != 0 || listen(fd, listen_backlog()) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return 0;
}

int rt_net_listen(const char *network, const char *address, rt_listener **out)
{
    RT__KEEP_ERRNO;
    if (out == NULL || address == NULL)
        return -EINVAL;
    *out = NULL;
    int net = parse_network(network);
    if (net < 0)
        return net;
    if (address[0] == '\0' && net != NET_UNIX)
        address = ":0"; /* Go: every address, a port the system picks */
    struct rt_listener *l = rt_alloc_noscan(sizeof *l);
    int fd = -1, family, err;
    if (net == NET_UNIX) {
        struct sockaddr_un sa;
        socklen_t len;
        if (address[0] == '\0') {
            /* Go: the kernel picks a name in the abstract namespace
             * (Linux's autobind: the family alone), "@" + 5 hex digits */
            memset(&sa, 0, sizeof sa);
            sa.sun_family = AF_UNIX;
            len = (socklen_t)sizeof(sa_family_t);
        } else if ((err = unix_addr(address, &sa, &len)) != 0) {
            return err;
        }
        if ((fd = new_socket(AF_UNIX)) < 0)
            return fd;
        if ((err = listen_fd(fd, (struct sockaddr *)&sa, len)) != 0)
            return err;
        family = AF_UNIX;
        if (address[0] != '@')
            memcpy(l->unlink_path, address, strlen(address) + 1);
    } else {
        addr_list al;
        if ((err = tcp_addrs(net, address, true, &al)) != 0)
            return err;
        err = -EADDRNOTAVAIL;
        family = AF_UNSPEC;
        for (int i = 0; i < al.n; i++) {
            family = al.a[i].ss_family;
            if ((fd = new_socket(family)) < 0) {
                err = fd;
                continue; /* no IPv6 on this host: the IPv4 wildcard */
            }
            int one = 1, v6only = net == NET_TCP6;
            (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
            if (family == AF_INET6)
                (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only);
            err = listen_fd(fd, (struct sockaddr *)&al.a[i], al.len[i]);
            if (err == 0)
                break;
            fd = -1;
        }
        if (fd < 0)
            return err;
    }
    if ((err = conn_init(&l->c, fd, family)) != 0)
        return err;
    rt_set_finalizer(l, listener_finalize);
    *out = l;
    return 0;
}

int rt__net_listener_fd(int fd, rt_listener **out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct rt_listener *l = rt_alloc_noscan(sizeof *l);
    int err = conn_init(&l->c, fd, ss.ss_family);
    if (err != 0)
        return err;
    rt_set_finalizer(l, listener_finalize);
    *out = l;
    return 0;
}

/* After a socket call on pd's descriptor failed with errno e: 0 to try the
 * call again (EINTR, or the descriptor became ready while we were parked
 * in direction dir, 'r' or 'w'), else the negative errno to return (the
 * call's own error, or the wait's: deadline, close). */
static int io_failed(rt__pollfd *pd, int e, char dir)
{
    if (e == EINTR)
        return 0;
    /* A read into a GC-heap buffer the collector has write-protected (its
     * mprotect mode; gc/dirty.c): the pages are writable again when the
     * call is retried (rt_conn_read touches the buffer first).  The
     * collector re-protects only a few times a cycle, so this ends. */
    if (e == EFAULT && dir == 'r' && rt__dirty_mode() == RT_DIRTY_MPROTECT)
        return 0;
    if (e != EAGAIN && e != EWOULDBLOCK)
        return -e;
    return rt__pollfd_wait(pd, dir);
}

int rt_net_accept(rt_listener *l, rt_conn **out)
{
    RT__KEEP_ERRNO;
    if (l == NULL || out == NULL)
        return -EINVAL;
    *out = NULL;
    if (rt__getg() == NULL)
        return -EPERM;
    struct rt_conn *c = &l->c;
    if (!conn_acquire(c))
        return -ECANCELED;
    rt_mutex_lock(&c->rmu);
    int err = rt__pollfd_check(c->pd);
    int fd = -1;
    while (err == 0) {
        fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0)
            break;
        if (errno == ECONNABORTED)
            continue; /* the peer gave up before we took it: next one */
        err = io_failed(c->pd, errno, 'r');
    }
    rt_mutex_unlock(&c->rmu);
    conn_release(c);
    if (err != 0)
        return err;
    return conn_new(fd, c->family, out);
}

int rt_listener_close(rt_listener *l)
{
    RT__KEEP_ERRNO;
    if (l == NULL)
        return -EINVAL;
    int err = conn_close(&l->c);
    if (err == 0 && l->unlink_path[0] != '\0')
        (void)unlink(l->unlink_path); /* Go's UnixListener removes its file */
    return err;
}

int rt_listener_addr(rt_listener *l, char *buf, size_t n)
{
    RT__KEEP_ERRNO;
    if (l == NULL || (buf == NULL && n != 0))
        return -EINVAL; /* (NULL, 0): -ENOSPC below, as a buffer of 0 */
    struct rt_conn *c = &l->c;
    if (!conn_acquire(c))
        return -ECANCELED;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int r = getsockname(c->fd, (struct sockaddr *)&ss, &len);
    int e = errno;
    conn_release(c);
    if (r != 0)
        return -e;
    char out[INET6_ADDRSTRLEN + 16 + sizeof(((struct sockaddr_un *)0)->sun_path)];
    char ip[INET6_ADDRSTRLEN];
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof ip);
        snprintf(out, sizeof out, "%s:%u", ip, ntohs(s4->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof ip);
        snprintf(out, sizeof out, "[%s]:%u", ip, ntohs(s6->sin6_port));
    } else {
        struct sockaddr_un *su = (struct sockaddr_un *)&ss;
        size_t off = offsetof(struct sockaddr_un, sun_path);
        size_t pl = len > off ? len - off : 0;
        if (pl > 0 && su->sun_path[0] == '\0') { /* abstract: "@name" */
            out[0] = '@';
            memcpy(out + 1, su->sun_path + 1, pl - 1);
            out[pl] = '\0';
        } else {
            pl = strnlen(su->sun_path, pl);
            memcpy(out, su->sun_path, pl);
            out[pl] = '\0';
        }
    }
    size_t ol = strlen(out);
    if (ol + 1 > n) {
        if (n > 0)
            buf[0] = '\0';
        return -ENOSPC;
    }
    memcpy(buf, out, ol + 1);
    return (int)ol;
}

/* ------------------------------------------------------------ dial ---- */

/* Connects c's socket to sa: the non-blocking connect, then a wait for
 * writability and the socket's verdict (Go's netFD.connect). */
static int conn_connect(struct rt_conn *c, const struct sockaddr *sa, socklen_t len)
{
    if (connect(c->fd, sa, len) == 0)
        return 0;
    int e = errno;
    if (e != EINPROGRESS && e != EINTR && e != EALREADY)
        return -e;
    for (;;) {
        int err = rt__pollfd_wait(c->pd, 'w');
        if (err != 0)
            return err;
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0)
            return -errno;
        if (soerr == 0)
            return 0;
        if (soerr != EINPROGRESS && soerr != EALREADY && soerr != EINTR)
            return -soerr;
    }
}

int rt_net_dial(const char *network, const char *address, rt_conn **out)
{
    RT__KEEP_ERRNO;
    if (out == NULL || address == NULL)
        return -EINVAL;
    *out = NULL;
    if (rt__getg() == NULL)
        return -EPERM;
    int net = parse_network(network);
    if (net < 0)
        return net;
    addr_list al;
    int err;
    if (net == NET_UNIX) {
        struct sockaddr_un sa;
        socklen_t len;
        if ((err = unix_addr(address, &sa, &len)) != 0)
            return err;
        al.n = 0;
        addr_put(&al, (struct sockaddr *)&sa, len);
    } else if ((err = tcp_addrs(net, address, false, &al)) != 0) {
        return err;
    }
    int first = 0;
    for (int i = 0; i < al.n; i++) {
        int family = al.a[i].ss_family;
        int fd = new_socket(family);
        if (fd < 0) {
            if (first == 0)
                first = fd;
            continue;
        }
        rt_conn *c;
        if ((err = conn_new(fd, family, &c)) != 0)
            return err;
        conn_acquire(c);
        err = conn_connect(c, (struct sockaddr *)&al.a[i], al.len[i]);
        conn_release(c);
        if (err == 0) {
            *out = c;
            return 0;
        }
        (void)conn_close(c);
        if (first == 0)
            first = err; /* Go reports the first address's error */
    }
    return first != 0 ? first : -EADDRNOTAVAIL;
}

/* ------------------------------------------------------- read, write ---- */

/* The entry both directions share: the arguments checked, the conn held
 * open for the call (conn_acquire) and the direction's mutex taken.  0 to
 * go on, else the errno to return (nothing is held then). */
static int conn_io_begin(rt_conn *c, const void *buf, size_t n, bool reading)
{
    if (c == NULL || (buf == NULL && n > 0))
        return -EINVAL;
    if (rt__getg() == NULL)
        return -EPERM;
    if (!conn_acquire(c))
        return -ECANCELED;
    rt_mutex_lock(reading ? &c->rmu : &c->wmu);
    return 0;
}

static void conn_io_end(rt_conn *c, bool reading)
{
    rt_mutex_unlock(reading ? &c->rmu : &c->wmu);
    conn_release(c);
}

ssize_t rt_conn_read(rt_conn *c, void *buf, size_t n)
{
    RT__KEEP_ERRNO;
    int e = conn_io_begin(c, buf, n, true);
    if (e != 0)
        return e;
    if (n == 0) { /* Go: 0 bytes asked, 0 read -- no deadline or EOF check */
        conn_io_end(c, true);
        return 0;
    }
    ssize_t r = rt__pollfd_check(c->pd);
    /* nginx's rule: a read that returned less than it asked for found the
     * socket empty, so another read now would almost always say EAGAIN (a
     * request-response peer has not answered yet).  Wait for readiness
     * first instead: data that comes after that read is a new edge of the
     * edge-triggered poll (or was already, PD_READY, and the wait returns
     * at once).  Not once the stream has ended: the end may have come in
     * the same edge as the data, and no edge follows it. */
    if (r == 0 && n > 0 && c->rdrained && !rt__pollfd_read_ended(c->pd))
        r = rt__pollfd_wait(c->pd, 'r');
    while (r == 0 && n > 0) {
        rt__dirty_touch(buf, n);
        r = read(c->fd, buf, n);
        if (r >= 0)
            break;
        r = io_failed(c->pd, errno, 'r');
    }
    c->rdrained = r > 0 && (size_t)r < n;
    conn_io_end(c, true);
    rt__preempt_point(); /* a read that finds data never parks (sched.h) */
    return r;
}

ssize_t rt_conn_write(rt_conn *c, const void *buf, size_t n)
{
    RT__KEEP_ERRNO;
    int e = conn_io_begin(c, buf, n, false);
    if (e != 0)
        return e;
    ssize_t err = rt__pollfd_check(c->pd);
    size_t done = 0;
    while (err == 0 && done < n) {
        /* send, not write: a peer that went away is -EPIPE, not SIGPIPE. */
        ssize_t w = send(c->fd, (const char *)buf + done, n - done, MSG_NOSIGNAL);
        if (w >= 0) {
            done += (size_t)w;
            continue;
        }
        /* EAGAIN: the socket buffer is full; park until the peer reads. */
        err = io_failed(c->pd, errno, 'w');
    }
    conn_io_end(c, false);
    rt__preempt_point();
    return err != 0 ? err : (ssize_t)n;
}

int rt_conn_set_deadline(rt_conn *c, int64_t deadline_ns)
{
    RT__KEEP_ERRNO;
    if (c == NULL)
        return -EINVAL;
    /* A negative time has passed, as Go's time.Unix(-1, 0) has: calls
     * fail at once (it was -EINVAL, and no deadline: an outside tester's
     * find).  1 is as past as any: rt_nanotime counts from boot. */
    if (deadline_ns < 0)
        deadline_ns = 1;
    if (!conn_acquire(c))
        return -ECANCELED;
    rt__pollfd_set_deadline(c->pd, deadline_ns);
    conn_release(c);
    return 0;
}

int rt_conn_close(rt_conn *c)
{
    RT__KEEP_ERRNO;
    if (c == NULL)
        return -EINVAL;
    return conn_close(c);
}

/* shutdown(2) of one direction, the descriptor held open meanwhile. */
static int conn_shutdown(rt_conn *c, int how)
{
    if (c == NULL)
        return -EINVAL;
    if (!conn_acquire(c))
        return -ECANCELED;
    int r = shutdown(c->fd, how) == 0 ? 0 : -errno;
    conn_release(c);
    return r;
}

int rt_conn_close_write(rt_conn *c)
{
    RT__KEEP_ERRNO;
    return conn_shutdown(c, SHUT_WR);
}

int rt_conn_close_read(rt_conn *c)
{
    RT__KEEP_ERRNO;
    return conn_shutdown(c, SHUT_RD);
}

/* ------------------------------------------------------------- files ---- */

/* The call itself, on this thread. */
static ssize_t file_io(int fd, void *buf, size_t n, int64_t off, bool write_)
{
    ssize_t r;
    do {
        if (off < 0)
            r = write_ ? write(fd, buf, n) : read(fd, buf, n);
        else
            r = write_ ? pwrite(fd, buf, n, (off_t)off) : pread(fd, buf, n, (off_t)off);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
}

/* A descriptor whose read or write may wait for ever: a pipe, a socket, a
 * terminal -- anything but a file or a block device, whose calls end. */
static bool may_wait_forever(mode_t mode)
{
    return !S_ISREG(mode) && !S_ISBLK(mode) && !S_ISDIR(mode);
}

/* Cleared when the kernel or the file system refuses RWF_NOWAIT for that
 * direction (EOPNOTSUPP): every call then goes to the pool, as before. */
static _Atomic int nowait_ok[2] = {1, 1};

bool rt__file_nowait_reads(void)
{
#ifdef RWF_NOWAIT
    return atomic_load_explicit(&nowait_ok[0], memory_order_relaxed) != 0;
#else
    return false;
#endif
}

/* The same call on a descriptor of unknown kind, at an offset: -errno
 * as the kernel gave it, and nothing learnt for nowait_ok (a character
 * device's EOPNOTSUPP says nothing of regular files). */
static ssize_t nowait_try(int fd, void *buf, size_t n, int64_t off, bool write_)
{
#ifdef RWF_NOWAIT
    struct iovec iov = {buf, n};
    ssize_t r;
    do {
        r = write_ ? pwritev2(fd, &iov, 1, (off_t)off, RWF_NOWAIT)
                   : preadv2(fd, &iov, 1, (off_t)off, RWF_NOWAIT);
    } while (r < 0 && errno == EINTR);
    return r < 0 ? -errno : r;
#else
    (void)fd, (void)buf, (void)n, (void)off, (void)write_;
    return -EOPNOTSUPP;
#endif
}

/*
 * A regular file's call made at once on the goroutine's thread when it
 * cannot block: preadv2/pwritev2 with RWF_NOWAIT are served from the page
 * cache or fail with EAGAIN (the data is not cached, the write would
 * wait for the disk or for block allocation).  The worker pool's round
 * trip -- a queue, a futex wake of a pool thread, a park and a wake-up --
 * cost 5-7x Go's direct pread/pwrite on cached files (an outside tester:
 * 400k random 4 KiB reads 4.1 s against Go's 0.55; 400k appends 4.2 s
 * against 0.71), where the call itself takes a microsecond.  -EAGAIN
 * sends the caller to the pool; EFAULT too (the collector's mprotect mode
 * protected the buffer again: file_call's retry handles it there).
 */
static ssize_t nowait_io(int fd, void *buf, size_t n, int64_t off, bool write_)
{
    if (!atomic_load_explicit(&nowait_ok[write_], memory_order_relaxed))
        return -EAGAIN;
    ssize_t r = nowait_try(fd, buf, n, off, write_);
    if (r >= 0)
        return r;
    if (r == -EOPNOTSUPP) {
        atomic_store_explicit(&nowait_ok[write_], 0, memory_order_relaxed);
        return -EAGAIN;
    }
    return r == -EAGAIN || r == -EFAULT ? -EAGAIN : r;
}

/* A buffered write where the file system refuses RWF_NOWAIT (ext4 does):
 * on this thread as a blocking system call, as Go's File.Write -- it
 * lands in the page cache at once nearly always, and when writeback
 * throttles it, sysmon hands the P on. */
static ssize_t write_in_syscall(int fd, void *buf, size_t n, int64_t off)
{
    rt_syscall_enter();
    ssize_t r = file_io(fd, buf, n, off, true);
    rt_syscall_exit();
    return r;
}

/* write(2) at the file position, a closed reader being -EPIPE and not
 * SIGPIPE, as Go's os.File.Write on descriptors other than 1 and 2 (there
 * the signal ends the program, in Go as in C): the signal is held back
 * for the call and a pending one taken. */
static ssize_t write_nosigpipe(int fd, void *buf, size_t n)
{
    sigset_t pipe_set, old;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    ssize_t r = file_io(fd, buf, n, -1, true);
    if (r == -EPIPE && !sigismember(&old, SIGPIPE)) {
        struct timespec zero = {0, 0};
        while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return r;
}

/*
 * Files go to libuv's worker pool, as uv_fs_read does, unless the page
 * cache serves the call at once (nowait_io): a slow disk holds up a pool
 * thread, never an M.  A pipe, socket or terminal at its file
 * position (off -1) does not: its read may wait for ever, and four such
 * readers held all of the pool's four threads -- every other file call and
 * name lookup waited for the pipes, and exit() waited too (libuv's
 * destructor joins its threads).  Those calls run on the goroutine's own
 * M as a blocking system call instead (rt_syscall_enter: sysmon hands the
 * P on), an M each while they wait, as Go's blocking system calls.
 */
static ssize_t file_call(int fd, void *buf, size_t n, int64_t off, bool write_)
{
    if (off < -1 || (buf == NULL && n > 0))
        return -EINVAL;
    if (rt__getg() == NULL)
        return file_io(fd, buf, n, off, write_);
    bool pool = false;
    if (off >= 0 && atomic_load_explicit(&nowait_ok[write_], memory_order_relaxed)) {
        /* At an offset, first the page cache, before asking what the
         * descriptor is: a statx a call made 4 KiB reads of a cached file
         * 2.6x Go's ReadAt (an outside tester's find).  Only a regular
         * file or a block device answers at an offset without waiting:
         * served, it is done; EAGAIN (would wait for the disk) and EFAULT
         * (see the loop below) go to the pool, as a regular file's do
         * below; ESPIPE, EBADF, EISDIR and the like are the answer any
         * path would give; EOPNOTSUPP and EINVAL (a descriptor that does
         * not take RWF_NOWAIT) take the path by kind. */
        if (!write_)
            rt__dirty_touch(buf, n);
        ssize_t r = nowait_try(fd, buf, n, off, write_);
        if (r >= 0 || (r != -EAGAIN && r != -EFAULT && r != -EOPNOTSUPP && r != -EINVAL))
            return r;
        pool = r == -EAGAIN || r == -EFAULT;
    } else if (off >= 0 && write_) {
        /* Buffered writes refused RWF_NOWAIT (below): whatever the
         * descriptor -- one that takes no offset fails at once (ESPIPE),
         * a device's write is a system call like any other -- without
         * the statx (0.5 us of each 4 KiB write). */
        return write_in_syscall(fd, buf, n, off);
    }
    /* Otherwise the kind decides the path: one statx (~0.5 us), asking
     * for the type alone.  fstat asks for the times too, and since Linux 6.13
     * a file whose change time was read gets a fresh fine-grained one at
     * its next write (multigrain timestamps): every append then dirtied
     * the inode -- 400k 100-byte writes took 954 ms with an fstat before
     * each, 585 with this, 365 with neither (ext4, an outside tester's
     * find: an append loop ran 2.25x Go's time). */
    bool direct = false; /* (pool: at an offset, never) */
    if (!pool) {
        struct statx stx;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_TYPE, &stx) != 0)
            return -errno;
        if (S_ISREG(stx.stx_mode)) {
            if (!write_)
                rt__dirty_touch(buf, n);
            ssize_t r = nowait_io(fd, buf, n, off, write_);
            if (r != -EAGAIN)
                return r;
            if (write_ && !atomic_load_explicit(&nowait_ok[1], memory_order_relaxed))
                return write_in_syscall(fd, buf, n, off);
        }
        direct = off == -1 && may_wait_forever(stx.stx_mode);
    }
    for (;;) {
        /* EFAULT: the collector's mprotect mode protected the buffer
         * again between the touch and the call (see io_failed). */
        if (!write_)
            rt__dirty_touch(buf, n);
        ssize_t r;
        if (direct) {
            rt_syscall_enter();
            for (;;) {
                r = write_ && fd > 2 ? write_nosigpipe(fd, buf, n)
                                     : file_io(fd, buf, n, off, write_);
                if (r != -EAGAIN)
                    break;
                /* A descriptor the program made non-blocking: wait for it
                 * here, in the blocking call, as Go's os.File waits (in
                 * its poller) -- -EAGAIN came back at once (an outside
                 * tester's note). */
                struct pollfd pf = {.fd = fd, .events = write_ ? POLLOUT : POLLIN};
                if (poll(&pf, 1, -1) < 0 && errno != EINTR)
                    break;
            }
            rt_syscall_exit();
        } else {
            r = rt__netpoll_file(fd, buf, n, off, write_);
        }
        if (write_ || r != -EFAULT || rt__dirty_mode() != RT_DIRTY_MPROTECT)
            return r;
    }
}

/* Both end at a preemption point (sched.h): a call served from the page
 * cache never parks, and goroutines reading a cached file in a loop kept
 * their Ps for good -- a sleeper beside them woke 10 s late, then never
 * (an outside tester's find; Go 15-27 ms).  rt_conn_read/write too. */
ssize_t rt_file_pread(int fd, void *buf, size_t n, int64_t off)
{
    RT__KEEP_ERRNO;
    ssize_t r = file_call(fd, buf, n, off, false);
    rt__preempt_point();
    return r;
}

ssize_t rt_file_pwrite(int fd, const void *buf, size_t n, int64_t off)
{
    RT__KEEP_ERRNO;
    ssize_t r = file_call(fd, (void *)buf, n, off, true);
    rt__preempt_point();
    return r;
}
