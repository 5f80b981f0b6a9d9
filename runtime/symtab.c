/*
 * runtime/symtab.c -- program counters to function, file and line.
 *
 * What it does
 *   rt__symbolize(pc) answers the three questions a traceback line needs:
 *   which function holds pc (its name and first instruction), which source
 *   line pc belongs to, and whether that function is part of libgrt itself
 *   (Go hides its runtime.* frames; grt hides its own frames the same way).
 *   rt__symbolize_frames (at the end) undoes inlining for the profile
 *   writers: the DWARF scopes at pc (dwarf_getscopes) name each inlined
 *   function and the line of its call, cached by pc like the rest; not
 *   for signal handlers (libdw allocates there).
 *
 * Where the answers come from
 *   One libdwfl session ("Dwfl") for the running process, reported from
 *   /proc/self/maps: every mapped ELF object becomes a module.  Function
 *   names and entries come from the module's ELF symbol table
 *   (dwfl_module_addrsym: .symtab when present, else .dynsym), lines from
 *   its DWARF line table (dwfl_module_getsrc + dwfl_lineinfo).  For an
 *   address no module knows (a library dlopen'ed after start-up) dladdr()
 *   gives at least the exported symbol.
 *
 *   "Part of libgrt" is decided by the DWARF compile unit that holds pc:
 *   libgrt is a static library linked into the program, so its functions
 *   sit in the same module as the user's and the module cannot tell them
 *   apart; static helpers have plain names, so a name prefix cannot either.
 *   The compile unit's source path can: a unit whose source lies in grt's
 *   own source tree belongs to the runtime.  The tree root is the
 *   grandparent directory of this very file's __FILE__ (.../runtime/symtab.c
 *   -> ...), so the answer needs no configuration.  Units under the tree's
 *   tests/, examples/, bench/, tools/, docs/ or build* directories are not
 *   the runtime (those programs link libgrt; they are not part of it).
 *   Without DWARF for pc the rt_ / rt__ name prefix decides, which is right
 *   for every exported and cross-file runtime function.
 *
 * Why a cache, and why everything is loaded at start-up
 *   Tracebacks are printed in the worst places: from the SIGSEGV handler,
 *   while another thread holds malloc's lock, with the world half stopped.
 *   libdw allocates when it first touches a module (ELF headers, symbol
 *   table, line tables, address ranges).  rt__symtab_init, called once at
 *   start-up, therefore reads every module's symbol table, and of the
 *   module that holds libgrt -- with a static libgrt, the program itself --
 *   the DWARF and the line tables of the program's own units, so that
 *   looking up the program's frames later only reads tables that already
 *   exist (preload_module says what else, and why libgrt's own line tables
 *   wait unless GOTRACEBACK shows runtime frames).  Other libraries' DWARF
 *   (libc's, when its debug info is installed) costs tens of milliseconds
 *   to read, so it is read by the first lookup that needs it, and never
 *   while a fatal error is being printed (rt__throwing): that thread may
 *   have crashed holding malloc's lock.  Results are kept in a fixed-size
 *   open-addressing table keyed by pc (mmap'ed once at init),
 *   whose strings are copied into a fixed arena (interned: one copy per
 *   distinct string).  A cached entry thus never points into memory that
 *   libdw or the dynamic loader may release (dlclose), and repeated
 *   tracebacks of the same stacks -- allocfreetrace prints thousands --
 *   cost a hash probe per frame.
 *
 * Locking
 *   libdwfl is not thread-safe, so the session, the cache and the arena are
 *   guarded by one lock.  It is a spin lock that records its owner (the
 *   address of a thread-local byte, unique per thread) instead of rt__lock:
 *   a fatal signal may arrive while this very thread is inside a lookup,
 *   and the handler's traceback must then not wait for itself.  A lookup
 *   that finds the lock held by its own thread does not touch libdwfl (the
 *   interrupted call may have left it mid-update) and answers from dladdr
 *   alone, uncached.  Holders never park (no lookup blocks on anything but
 *   this lock), so a waiter spins briefly and then yields the CPU.  Like
 *   every runtime lock it is taken and held inside the M's no-stop region
 *   (sched.h), so the collector never stops a holder (tl_lock_m).
 *
 * Rejected alternatives
 *   - backtrace_symbols / dladdr only: sees only exported dynamic symbols,
 *     so static functions and every function of a non -rdynamic program
 *     print as "?"; and no lines.
 *   - libbacktrace: would be another dependency next to libdw, which the
 *     pprof writer needs anyway for build ids and mappings.
 *   - Looking up "runtime or not" by symbol name prefix only: wrong for the
 *     runtime's static helpers (see above).
 *   - A lock-free cache read path: lookups are rare outside tracebacks and
 *     the profilers symbolize in batches; one uncontended lock is cheaper to
 *     get right.
 *
 * Invariants
 *   - Every Dwfl call, cache access and arena write happens with the lock
 *     held by the calling thread.
 *   - After init, no lookup made while a fatal signal's report is printed
 *     allocates for a pc inside a module reported at init (see
 *     preload_module, may_load_in_fatal).
 *   - Cache keys are never 0 (pc 0 is answered "unknown" before locking).
 *   - Strings handed out live for the rest of the process.
 */
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/runtime.h"
#include "sched/sched.h"

/* ------------------------------------------------------------ tunables -- */

#define CACHE_SLOTS 8192u          /* power of two; 48 bytes each */
#define CACHE_PROBE 16u            /* linear probe length before evicting */
#define ARENA_BYTES (512u * 1024u) /* interned string bytes */
#define INTERN_SLOTS 16384u        /* power of two; distinct strings */

/* One cached answer.  Protected by the symtab lock. */
typedef struct cent {
    uintptr_t key;    /* pc looked up; 0 = empty slot */
    uintptr_t entry;  /* 0 if unknown */
    const char *name; /* interned or NULL */
    const char *file; /* interned or NULL */
    int32_t line;
    bool in_runtime;
} cent;

/* ---------------------------------------------------------- the state -- */

/* Owner of the lock: address of the owner thread's tl_self, or 0.
 * acquire on taking, release on dropping. */
static _Atomic uintptr_t lock_owner;
static _Thread_local char tl_self;

/* All below: protected by the lock. */
static bool initialized;
static Dwfl *dwfl;        /* NULL if the session could not be made */
static cent *cache;       /* [CACHE_SLOTS], NULL if mmap failed */
static char *arena;       /* [ARENA_BYTES] */
static size_t arena_used;
static uint32_t *intern_tab; /* [INTERN_SLOTS]: arena offset + 1, 0 empty */
static char root[PATH_MAX];  /* grt's source tree, no trailing '/' */
static size_t root_len;
static bool root_absolute;

/* The module holding libgrt, and the modules whose DWARF is loaded;
 * whether libgrt's own line tables were (preload_module). */
#define MAX_DWARF_LOADED 64
static Dwfl_Module *rt_module;
static Dwfl_Module *dwarf_loaded[MAX_DWARF_LOADED];
static int n_dwarf_loaded;
static bool runtime_lines;

static char *debuginfo_path; /* NULL: libdw's default search path */

/* libdw keeps the descriptors its finders open for as long as the
 * session lives -- the program's binary, every shared library, their debug
 * files -- and opens them without O_CLOEXEC: every system(), popen() or
 * exec'd child inherited 14 of them (an outside tester's find; Go opens
 * everything close-on-exec).  These wrappers set the flag on what the
 * finders return. */
static int cloexec(int fd)
{
    if (fd >= 0) {
        int fl = fcntl(fd, F_GETFD);
        if (fl >= 0 && !(fl & FD_CLOEXEC))
            (void)fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
    }
    return fd;
}

static int find_elf_cloexec(Dwfl_Module *mod, void **userdata, const char *modname,
                            Dwarf_Addr base, char **file_name, Elf **elfp)
{
    return cloexec(dwfl_linux_proc_find_elf(mod, userdata, modname, base, file_name, elfp));
}

static int find_debuginfo_cloexec(Dwfl_Module *mod, void **userdata, const char *modname,
                                  Dwarf_Addr base, const char *file_name,
                                  const char *debuglink_file, GElf_Word debuglink_crc,
                                  char **debuginfo_file_name)
{
    return cloexec(dwfl_build_id_find_debuginfo(mod, userdata, modname, base, file_name,
                                                debuglink_file, debuglink_crc,
                                                debuginfo_file_name));
}

static const Dwfl_Callbacks proc_callbacks = {
    /* The modules are files mapped into this process: open them by the
     * path /proc/self/maps names (the vdso is read from memory). */
    .find_elf = find_elf_cloexec,
    /* Separate debug info by build id (/usr/lib/debug/.build-id/...), if
     * installed.  Not dwfl_standard_find_debuginfo: it also asks
     * debuginfod, which dlopen()s libcurl and a dozen more libraries into
     * the program (10 ms at start-up) and may go to the network when
     * DEBUGINFOD_URLS is set.  (.gnu_debuglink-only debug files are not
     * searched; distributions install build-id links.) */
    .find_debuginfo = find_debuginfo_cloexec,
    .debuginfo_path = &debuginfo_path,
};

/* --------------------------------------------------------------- lock -- */


/* The M whose no-stop region covers this thread's hold of the lock.
 * Held inside one, as every runtime lock is (sched.h): a holder stopped by
 * the collector would keep the lock through the stop, and a thread that
 * waits for it inside a no-stop region of its own (sweeping a span, whose
 * frees allocfreetrace symbolizes) would hold the stop up for ever --
 * met in golden_test_allocfreetrace: the heap profiler's symbolization
 * stopped inside libdw, a sweep's free trace spinning on the lock.  Not
 * while a fatal error is printed: a dying thread must not stop. */
static __thread rt_m *tl_lock_m;

/* Takes the lock; returns false without it if this thread already holds
 * it (a signal handler interrupted a lookup). */
static bool lock_take(void)
{
    uintptr_t me = (uintptr_t)&tl_self;
    rt_m *mp = atomic_load_explicit(&rt__throwing, memory_order_relaxed) ? NULL : rt__tls_m;

    if (mp != NULL)
        rt__nostop_begin(mp);
    for (unsigned i = 0;; i++) {
        uintptr_t cur = 0;
        if (atomic_compare_exchange_weak_explicit(&lock_owner, &cur, me,
                                                  memory_order_acquire,
                                                  memory_order_relaxed)) {
            tl_lock_m = mp;
            return true;
        }
        if (cur == me) {
            if (mp != NULL)
                rt__nostop_end(mp);
            return false;
        }
        if (i < 100)
            rt__cpu_relax();
        else
            sched_yield();
    }
}

static void lock_drop(void)
{
    rt_m *mp = tl_lock_m;
    tl_lock_m = NULL;
    atomic_store_explicit(&lock_owner, 0, memory_order_release);
    if (mp != NULL)
        rt__nostop_end(mp);
}

/* ------------------------------------------------------------ strings -- */

static uint32_t str_hash_n(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

/* The arena copy of the n bytes at s (made on first sight), NUL-ended.  If
 * the arena or its index is full: s itself when n is all of it (libdw's
 * strings live as long as the session, which is never ended, so only a
 * dlclose'd library's names could go stale), else NULL. */
static const char *intern_n(const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    if (arena != NULL) {
        uint32_t h = str_hash_n(s, n);
        for (uint32_t i = 0; i < INTERN_SLOTS / 2; i++) {
            uint32_t *slot = &intern_tab[(h + i) & (INTERN_SLOTS - 1)];
            if (*slot == 0) {
                if (arena_used + n + 1 > ARENA_BYTES)
                    break;
                memcpy(arena + arena_used, s, n);
                arena[arena_used + n] = '\0';
                *slot = (uint32_t)arena_used + 1;
                arena_used += n + 1;
                return arena + *slot - 1;
            }
            const char *t = arena + *slot - 1;
            if (strncmp(t, s, n) == 0 && t[n] == '\0')
                return t;
        }
    }
    return s[n] == '\0' ? s : NULL;
}

static const char *intern(const char *s)
{
    return s != NULL ? intern_n(s, strlen(s)) : NULL;
}

/* A function name as printed: without an ELF symbol version
 * ("__libc_start_main@@GLIBC_2.34" -> "__libc_start_main"). */
static const char *intern_name(const char *s)
{
    if (s == NULL)
        return NULL;
    const char *at = strchr(s, '@');
    const char *t = intern_n(s, at != NULL && at != s ? (size_t)(at - s)
                                                      : strlen(s));
    return t != NULL ? t : s;
}

/* -------------------------------------------------------------- cache -- */

static size_t pc_hash(uintptr_t pc)
{
    uint64_t x = (uint64_t)pc * 0x9e3779b97f4a7c15ull;
    return (size_t)(x >> 32) & (CACHE_SLOTS - 1);
}

static const cent *cache_find(uintptr_t pc)
{
    if (cache == NULL)
        return NULL;
    size_t h = pc_hash(pc);
    for (size_t i = 0; i < CACHE_PROBE; i++) {
        const cent *e = &cache[(h + i) & (CACHE_SLOTS - 1)];
        if (e->key == pc)
            return e;
        if (e->key == 0)
            return NULL;
    }
    return NULL;
}

/* Stores the answer for pc; when the probe window is full the home slot is
 * overwritten (a cache may forget). */
static void cache_put(uintptr_t pc, const rt__sym *s)
{
    if (cache == NULL)
        return;
    size_t h = pc_hash(pc);
    cent *e = &cache[h];
    for (size_t i = 0; i < CACHE_PROBE; i++) {
        cent *c = &cache[(h + i) & (CACHE_SLOTS - 1)];
        if (c->key == 0) {
            e = c;
            break;
        }
    }
    e->key = pc;
    e->entry = s->entry;
    e->name = s->name;
    e->file = s->file;
    e->line = s->line;
    e->in_runtime = s->in_runtime;
}

/* ------------------------------------------------- runtime or not? ----- */

/* root := grandparent directory of this file's __FILE__. */
static void set_root(void)
{
    const char *f = __FILE__;
    size_t n = strlen(f);
    for (int up = 0; up < 2; up++) {
        while (n > 0 && f[n - 1] != '/')
            n--;
        while (n > 0 && f[n - 1] == '/')
            n--;
    }
    if (n >= sizeof root)
        n = 0;
    memcpy(root, f, n);
    root[n] = '\0';
    root_len = n;
    root_absolute = f[0] == '/';
}

/* Top-level directories of the tree whose code links libgrt but is not
 * part of it. */
static bool outside_library(const char *dir, size_t n)
{
    static const char *const not_lib[] = {"tests", "examples", "bench",
                                          "tools", "docs"};
    for (size_t i = 0; i < sizeof not_lib / sizeof not_lib[0]; i++)
        if (strlen(not_lib[i]) == n && memcmp(dir, not_lib[i], n) == 0)
            return true;
    return n >= 5 && memcmp(dir, "build", 5) == 0;
}

/* Whether the compile unit's primary source file lies in one of grt's own
 * library folders.  No allocation: the joined path is built on the
 * stack. */
/* path, or, when it is relative, cu's absolute compile directory joined
 * to it (written to buf); NULL if the unit has no such directory or the
 * result does not fit. */
static const char *cu_join(Dwarf_Die *cu, const char *path, char *buf, size_t n)
{
    if (path[0] == '/')
        return path;
    Dwarf_Attribute attr;
    const char *dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
    if (dir == NULL || dir[0] != '/')
        return NULL;
    int k = snprintf(buf, n, "%s/%s", dir, path);
    return k >= 0 && (size_t)k < n ? buf : NULL;
}

static bool cu_in_runtime(Dwarf_Die *cu)
{
    char buf[PATH_MAX];
    const char *path = dwarf_diename(cu);
    if (path == NULL)
        return false;
    if (root_absolute && (path = cu_join(cu, path, buf, sizeof buf)) == NULL)
        return false;
    const char *rest = path;
    if (root_len > 0) {
        if (strncmp(path, root, root_len) != 0 || path[root_len] != '/')
            return false;
        rest = path + root_len + 1;
    }
    while (rest[0] == '.' && rest[1] == '/')
        rest += 2;
    const char *slash = strchr(rest, '/');
    if (slash == NULL || slash == rest) /* a file at the tree's top */
        return false;
    return !outside_library(rest, (size_t)(slash - rest));
}

static bool name_in_runtime(const char *name)
{
    return name != NULL && strncmp(name, "rt_", 3) == 0;
}

/* ---------------------------------------------------------- lookups ---- */

/*
 * Makes libdw read now what a fatal error's traceback needs and libdw would
 * otherwise read on first use: every module's ELF symbol table, and for the
 * module that holds libgrt (and so, in the usual static link, the program's
 * own code) its DWARF, the address-range table, every compile unit's header
 * and the line tables of the program's own compile units -- and of
 * libgrt's too when GOTRACEBACK asks for runtime frames (level 2 and up:
 * crash output shows them; below, a libgrt frame only needs its unit's
 * name, to be hidden).  Other modules' DWARF (libc's debug info, when
 * installed, takes ~70 ms to read in full) and libgrt's line tables below
 * level 2 are loaded by the first lookup that needs them, but never while
 * a fatal signal's report is being printed: that thread may have crashed
 * inside malloc, and libdw's loading allocates (may_load_in_fatal; other
 * modules' DWARF waits for the end of any fatal error).  Then such frames
 * get names but no lines.  libgrt's line tables were 2.3 MB of the 4.9 MB of RSS that
 * reading everything up front cost a program that does nothing (7.7 MB in
 * all, now 5.8; Go's 1.4).
 *
 * The first address lookup in a module sets up its ELF backend (an
 * allocation): one is made here for every module.  Lookups use
 * dwfl_module_addrsym: dwfl_module_addrinfo, used before, builds the
 * module's section table (another allocation) the first time it weighs a
 * symbol without a size (an assembly label), and a crash inside malloc --
 * a corrupted heap, the thread holding malloc's lock -- hung in its report
 * at the trampoline below every goroutine (rt__ctx_start), an outside
 * tester's find.
 */
static int preload_module(Dwfl_Module *mod, void **userdata,
                          const char *name, Dwarf_Addr start, void *arg)
{
    (void)userdata, (void)name, (void)arg;
    (void)dwfl_module_getsymtab(mod);
    GElf_Sym sym;
    (void)dwfl_module_addrsym(mod, start, &sym, NULL);
    if (mod != rt_module)
        return DWARF_CB_OK;
    Dwarf_Addr bias;
    if (dwfl_module_getdwarf(mod, &bias) == NULL)
        return DWARF_CB_OK;
    dwarf_loaded[n_dwarf_loaded++] = mod;
    (void)dwfl_module_addrdie(mod, start, &bias);
    runtime_lines = rt__debug.traceback >= 2;
    Dwarf_Die *cu = NULL;
    while ((cu = dwfl_module_nextcu(mod, cu, &bias)) != NULL) {
        size_t nlines;
        if (runtime_lines || !cu_in_runtime(cu))
            (void)dwfl_getsrclines(cu, &nlines);
    }
    return DWARF_CB_OK;
}

/* Whether libdw may read (and allocate) now: outside a fatal error, and
 * in one raised by code rather than by a signal -- a deadlock, a misuse
 * of the API, a throw -- which runs on the goroutine's or the thread's own
 * stack, never inside malloc.  A fatal signal's report runs on the
 * alternate signal stack (every runtime handler has SA_ONSTACK) and says
 * so (rt__fatal_in_signal: a foreign thread may have no such stack), and
 * the signal may have come from inside malloc.  The libgrt frames of a
 * goroutine that has no frame of the program's own are printed at level 1
 * too (traceback.c, as Go), and came out "?:0" before (an outside
 * tester's find). */
static bool may_load_in_fatal(void)
{
    if (atomic_load_explicit(&rt__throwing, memory_order_relaxed) == 0)
        return true;
    if (atomic_load_explicit(&rt__fatal_in_signal, memory_order_relaxed) != 0)
        return false;
    stack_t cur; /* (a throw from some other handler: on that stack) */
    return sigaltstack(NULL, &cur) == 0 && !(cur.ss_flags & SS_ONSTACK);
}

/* Whether mod's DWARF may be used now (see preload_module); loads it if
 * that is safe.  Lock held. */
static bool dwarf_usable(Dwfl_Module *mod)
{
    for (int i = 0; i < n_dwarf_loaded; i++)
        if (dwarf_loaded[i] == mod)
            return true;
    if (atomic_load_explicit(&rt__throwing, memory_order_relaxed) != 0)
        return false;
    Dwarf_Addr bias;
    (void)dwfl_module_getdwarf(mod, &bias);
    if (n_dwarf_loaded < MAX_DWARF_LOADED)
        dwarf_loaded[n_dwarf_loaded++] = mod;
    return true;
}


/* dladdr only: exported symbols, no lines.  Safe to use when libdwfl must
 * not be entered. */
static void lookup_dladdr(uintptr_t pc, rt__sym *out)
{
    Dl_info di;
    if (dladdr((void *)pc, &di) != 0 && di.dli_sname != NULL &&
        di.dli_saddr != NULL && (uintptr_t)di.dli_saddr <= pc) {
        out->name = di.dli_sname;
        out->entry = (uintptr_t)di.dli_saddr;
        out->in_runtime = name_in_runtime(out->name);
    }
}

/* The full lookup; lock held, strings not yet interned. */
static void lookup_dwfl(uintptr_t pc, rt__sym *out)
{
    Dwfl_Module *mod = dwfl != NULL ? dwfl_addrmodule(dwfl, pc) : NULL;
    bool have_cu = false;

    if (mod != NULL) {
        /* addrsym, not addrinfo: addrinfo builds the module's section
         * table (an allocation) the first time it weighs a symbol without
         * a size, which may be in a fatal error's report (preload_module). */
        GElf_Sym sym;
        const char *name = dwfl_module_addrsym(mod, pc, &sym, NULL);
        if (name != NULL && name[0] != '\0' && (uintptr_t)sym.st_value <= pc) {
            out->name = name;
            out->entry = (uintptr_t)sym.st_value;
        }
        Dwarf_Addr bias;
        bool dw = dwarf_usable(mod);
        Dwarf_Die *cu = dw ? dwfl_module_addrdie(mod, pc, &bias) : NULL;
        /* libdwfl answers for a pc in a gap between CUs' ranges with the
         * CU before it: _start (crt1.o, no DWARF) came out at the
         * program's main.c:12, the line of main just above it.  A CU
         * counts only if its ranges hold the pc. */
        if (cu != NULL && dwarf_haspc(cu, pc - bias) <= 0)
            cu = NULL;
        if (cu != NULL) {
            have_cu = true;
            out->in_runtime = cu_in_runtime(cu);
        }
        /* (libgrt's line tables: see preload_module) */
        bool lines = cu != NULL && (mod != rt_module || runtime_lines || !out->in_runtime ||
                                    may_load_in_fatal());
        Dwfl_Line *ln = lines ? dwfl_module_getsrc(mod, pc) : NULL;
        if (ln != NULL) {
            int line = 0;
            const char *file = dwfl_lineinfo(ln, NULL, &line, NULL, NULL,
                                             NULL);
            /* A unit compiled as `gcc -c lib/x.c` names its file relative
             * to the compile directory, and libdw hands it on as such:
             * joined here, as addr2line and Go print it (an outside
             * tester's find: "lib/libpart.c:4").  (The unit's attributes
             * are read already: cu_in_runtime.) */
            static char joined[PATH_MAX]; /* lock held */
            const char *full = file != NULL ? cu_join(cu, file, joined, sizeof joined) : NULL;
            if (full != NULL)
                file = full;
            if (file != NULL) {
                out->file = file;
                out->line = line;
            }
        }
    }
    if (out->name == NULL) {
        bool in_rt = out->in_runtime;
        lookup_dladdr(pc, out);
        if (have_cu)
            out->in_runtime = in_rt;
    } else if (!have_cu) {
        out->in_runtime = name_in_runtime(out->name);
    }
}

/* ----------------------------------------------------------- start-up -- */

/* Lock held. */
static void init_locked(void)
{
    initialized = true;
    set_root();

    void *mem = mmap(NULL,
                     CACHE_SLOTS * sizeof(cent) + ARENA_BYTES +
                         INTERN_SLOTS * sizeof(uint32_t),
                     PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
                     0);
    if (mem != MAP_FAILED) {
        cache = mem;
        intern_tab = (uint32_t *)(cache + CACHE_SLOTS);
        arena = (char *)(intern_tab + INTERN_SLOTS);
    }

    dwfl = dwfl_begin(&proc_callbacks);
    if (dwfl == NULL)
        return;
    dwfl_report_begin(dwfl);
    int err = dwfl_linux_proc_report(dwfl, getpid());
    if (dwfl_report_end(dwfl, NULL, NULL) != 0 || err != 0) {
        dwfl_end(dwfl);
        dwfl = NULL;
        return;
    }
    rt_module = dwfl_addrmodule(dwfl, (Dwarf_Addr)(uintptr_t)rt__symtab_init);
    (void)dwfl_getmodules(dwfl, preload_module, NULL, 0);
}

void rt__symtab_init(void)
{
    if (!lock_take())
        return;
    if (!initialized)
        init_locked();
    lock_drop();
}

_Atomic uint64_t rt__symtab_misses;

bool rt__symbolize(uintptr_t pc, rt__sym *out)
{
    out->name = NULL;
    out->entry = 0;
    out->file = NULL;
    out->line = 0;
    out->in_runtime = false;
    if (pc < RT_PAGE_SIZE)
        return false;

    if (!lock_take()) {
        /* This thread is inside a lookup (we interrupted it). */
        lookup_dladdr(pc, out);
        return out->name != NULL;
    }
    if (!initialized)
        init_locked();
    const cent *e = cache_find(pc);
    if (e != NULL) {
        out->name = e->name;
        out->entry = e->entry;
        out->file = e->file;
        out->line = e->line;
        out->in_runtime = e->in_runtime;
    } else {
        atomic_fetch_add_explicit(&rt__symtab_misses, 1, memory_order_relaxed);
        lookup_dwfl(pc, out);
        out->name = intern_name(out->name);
        out->file = intern(out->file);
        cache_put(pc, out);
    }
    lock_drop();
    return out->name != NULL;
}

/* ------------------------------------------------------------ inlining -- */

/* Lock held.  The name of an inlined subroutine's function (through its
 * abstract origin), or NULL. */
static const char *inline_name(Dwarf_Die *die)
{
    Dwarf_Attribute a;
    const char *name = NULL;
    if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) != NULL)
        name = dwarf_formstring(&a);
    if (name == NULL && dwarf_attr_integrate(die, DW_AT_name, &a) != NULL)
        name = dwarf_formstring(&a);
    return name;
}

/* Lock held.  Fills out[0..] for the inlined scopes around pc (module
 * address), innermost first, starting from position (file, line); the
 * outermost position (the call in the real function) is left in *file,
 * *line.  Returns how many, at most max. */
static int inline_chain(Dwfl_Module *mod, uintptr_t pc, const char **file, int *line,
                        rt__sym *out, int max)
{
    Dwarf_Addr bias;
    Dwarf_Die *cu = dwarf_usable(mod) ? dwfl_module_addrdie(mod, pc, &bias) : NULL;
    if (cu == NULL || dwarf_haspc(cu, pc - bias) <= 0)
        return 0;
    Dwarf_Die *scopes = NULL;
    int nscopes = dwarf_getscopes(cu, pc - bias, &scopes);
    if (nscopes <= 0)
        return 0;
    Dwarf_Files *files = NULL;
    size_t nfiles = 0;
    if (dwarf_getsrcfiles(cu, &files, &nfiles) != 0)
        files = NULL;
    int n = 0;
    for (int i = 0; i < nscopes && n < max; i++) {
        int tag = dwarf_tag(&scopes[i]);
        if (tag == DW_TAG_subprogram)
            break;
        if (tag != DW_TAG_inlined_subroutine)
            continue; /* lexical blocks */
        const char *name = inline_name(&scopes[i]);
        if (name == NULL)
            break;
        out[n].name = name;
        out[n].file = *file;
        out[n].line = *line;
        n++;
        /* where it was inlined: the next frame's position */
        Dwarf_Attribute a;
        Dwarf_Word cf = 0, cl = 0;
        if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &a), &cf) == 0 &&
            files != NULL && cf < nfiles) {
            const char *f = dwarf_filesrc(files, cf, NULL, NULL);
            if (f != NULL)
                *file = f;
        }
        if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &a), &cl) == 0)
            *line = (int)cl;
    }
    free(scopes);
    return n;
}

/* Chains already worked out, by pc (dwarf_getscopes walks the unit's
 * DIE tree: ~0.1 ms a call, and a text profile asks for every frame of
 * every record): an open-addressing table of (pc, first, n) into an
 * arena of frames, mapped at the first use, entries never removed; a
 * full table or arena only stops caching. */
#define ICACHE_SLOTS 32768
#define ICHAIN_MAX ((uint32_t)1 << 17)
typedef struct icent {
    uintptr_t pc;
    uint32_t first;
    uint32_t n;
} icent;
static icent *icache;
static rt__sym *ichain;
static uint32_t ichain_used;

/* Lock held. */
static icent *icache_slot(uintptr_t pc, bool *found)
{
    if (icache == NULL) {
        void *mem = mmap(NULL, ICACHE_SLOTS * sizeof(icent) + ICHAIN_MAX * sizeof(rt__sym),
                         PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED)
            return NULL;
        icache = mem;
        ichain = (rt__sym *)(icache + ICACHE_SLOTS);
    }
    size_t h = pc_hash(pc) & (ICACHE_SLOTS - 1);
    for (int k = 0; k < 16; k++) {
        icent *e = &icache[(h + (size_t)k) & (ICACHE_SLOTS - 1)];
        if (e->pc == pc) {
            *found = true;
            return e;
        }
        if (e->pc == 0) {
            *found = false;
            return e;
        }
    }
    return NULL;
}

int rt__symbolize_frames(uintptr_t pc, rt__sym *out, int max)
{
    if (max <= 0)
        return 0;
    rt__sym top;
    if (!rt__symbolize(pc, &top))
        return 0;
    /* The runtime's own functions stay one frame each: their static
     * helpers inlined into a public function would otherwise become the
     * leaf of every record that starts at that function (the mutex
     * profile's stacks start at rt_mutex_unlock, as Go's at Unlock) */
    if (max == 1 || top.in_runtime || atomic_load_explicit(&rt__throwing, memory_order_relaxed) ||
        !lock_take()) {
        out[0] = top;
        return 1;
    }
    int n = 0;
    bool found = false;
    icent *e = icache_slot(pc, &found);
    if (e != NULL && found) {
        n = (int)e->n < max ? (int)e->n : max - 1;
        /* the inlined frames, then the outermost (always kept) */
        for (int i = 0; i < n; i++)
            out[i] = ichain[e->first + (uint32_t)i];
        out[n++] = ichain[e->first + e->n];
        lock_drop();
        return n;
    }
    Dwfl_Module *mod = dwfl != NULL ? dwfl_addrmodule(dwfl, pc) : NULL;
    if (mod != NULL) {
        const char *file = top.file;
        int line = top.line;
        n = inline_chain(mod, pc, &file, &line, out, max - 1);
        for (int i = 0; i < n; i++) {
            out[i].name = intern_name(out[i].name);
            out[i].file = intern(out[i].file);
            out[i].entry = top.entry;
            out[i].in_runtime = top.in_runtime;
        }
        if (n > 0) {
            top.file = intern(file);
            top.line = line;
        }
    }
    out[n++] = top;
    if (e != NULL && ichain_used + (uint32_t)n <= ICHAIN_MAX) {
        e->pc = pc;
        e->first = ichain_used;
        e->n = (uint32_t)n - 1;
        for (int i = 0; i < n; i++)
            ichain[ichain_used++] = out[i];
    }
    lock_drop();
    return n;
}
