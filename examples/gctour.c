/*
 * examples/gctour.c -- the garbage-collected heap under its tracers: a
 * short program whose output the README's tracer guide quotes.
 *
 *   DEBUG=gctrace=1 ./build/examples/gctour
 *       one "gcN(..)" line per collection, then the "scvg-1:" lines of
 *       rt_free_os_memory;
 *   DEBUG=allocfreetrace=1 ./build/examples/gctour small
 *       a record per allocation and per object freed by sweeping, and a
 *       "tracegc()" block at the start of each collection.
 *
 * What it does
 *   Keeps a binary tree of depth 16 alive (131,071 typed nodes of 24
 *   bytes, each in the 32-byte size class: 4 MB), builds and drops 40 of
 *   depth 13 (655,000 nodes, 20 MB of garbage: several collections), makes
 *   a channel and an untyped buffer, then calls rt_gc and
 *   rt_free_os_memory and checks the kept tree.  With the argument
 *   "small" it allocates only a handful of objects (allocfreetrace prints a
 *   traceback for each one).
 */
#include <rt.h>
#include <stdio.h>
#include <string.h>

typedef struct node {
    struct node *left, *right;
    long value;
} node;

static node *tree(int depth, long value)
{
    node *n = rt_new(node);
    n->value = value;
    if (depth > 0) {
        n->left = tree(depth - 1, 2 * value);
        n->right = tree(depth - 1, 2 * value + 1);
    }
    return n;
}

static long sum(const node *n)
{
    return n == NULL ? 0 : n->value + sum(n->left) + sum(n->right);
}

static int gctour(int argc, char **argv)
{
    bool small = argc > 1 && strcmp(argv[1], "small") == 0;
    int depth = small ? 1 : 16, drops = small ? 1 : 40;
    node *kept = tree(depth, 1);
    long want = sum(kept);
    for (int i = 0; i < drops; i++)
        (void)tree(small ? 1 : 13, 1); /* garbage at once */
    rt_chan *c = rt_chan_make(sizeof(int), 4);
    char *buf = rt_alloc(small ? 100 : 100000);
    long *counts = rt_new_array(long, 16);
    memset(buf, 'x', 100);
    counts[0] = (long)rt_chan_cap(c);
    c = NULL; /* the channel is garbage now */
    rt_gc();
    rt_free_os_memory();
    if (sum(kept) != want) {
        fprintf(stderr, "gctour: the kept tree changed\n");
        return 1;
    }
    rt_memstats ms;
    rt_read_memstats(&ms);
    printf("gctour: %u collections, %llu objects live, %llu allocated in all\n",
           ms.num_gc, (unsigned long long)ms.heap_objects,
           (unsigned long long)ms.mallocs);
    return 0;
}

int main(int argc, char **argv)
{
    return rt_main(gctour, argc, argv);
}
