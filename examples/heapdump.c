/*
 * examples/heapdump.c -- writing a heap dump (Go's debug.WriteHeapDump)
 * and reading it with the Go wiki's tools.
 *
 *   ./heapdump heap.dump
 *   dumptodot heap.dump > heap.dot      (github.com/randall77/hprof)
 *   hview heap.dump                     (then browse http://localhost:8080)
 *   dumptohprof heap.dump heap.hprof
 *
 * Run the tools without the executable argument: they only understand
 * Go's DWARF.  Objects made with rt_new(T) show as T, rt_alloc objects as
 * "conservativeN", rt_alloc_noscan objects as "noptrN" (N: the slot size).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"

typedef struct tree {
    struct tree *left, *right;
    long value;
} tree;

typedef struct customer {
    char *name;    /* rt_alloc_noscan */
    tree *orders;  /* rt_new(tree) */
    void *scratch; /* rt_alloc */
} customer;

customer *customers[4]; /* bss: roots */

static tree *build(int depth, long v)
{
    tree *t = rt_new(tree);
    t->value = v;
    if (depth > 0) {
        t->left = build(depth - 1, 2 * v);
        t->right = build(depth - 1, 2 * v + 1);
    }
    return t;
}

static void waiter(void *arg)
{
    rt_chan *c = arg;
    customer *mine = rt_new(customer); /* held by this parked goroutine */
    mine->orders = build(2, 1);
    rt_chan_recv(c, NULL); /* parks until main closes c */
    mine->orders->value++;
}

static int main_fn(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "heap.dump";
    for (int i = 0; i < 4; i++) {
        customer *c = rt_new(customer);
        c->name = rt_alloc_noscan(32);
        snprintf(c->name, 32, "customer %d", i);
        c->orders = build(3, i);
        c->scratch = rt_alloc(48);
        ((void **)c->scratch)[1] = c; /* a pointer back, found conservatively */
        customers[i] = c;
    }
    rt_chan *c = rt_chan_make(0, 0);
    rt_go(waiter, c);
    rt_yield();

    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    int rc = rt_write_heap_dump(fd);
    close(fd);
    if (rc < 0) {
        fprintf(stderr, "rt_write_heap_dump: %s\n", strerror(-rc));
        return 1;
    }
    printf("wrote %s (%s and 3 more customers)\n", path, customers[0]->name);
    rt_chan_close(c);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(main_fn, argc, argv);
}
