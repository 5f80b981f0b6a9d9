/*
 * bench_chameneos.c -- workload 8 of BENCHMARKS.md: chameneos-redux.
 *
 * The benchmarks-game chameneos-redux, played twice: with 3 creatures
 * (blue red yellow), then with 10 (blue red yellow red yellow blue red
 * yellow red blue).  Each creature is a goroutine that goes to the meeting
 * place, meets another creature, takes the complement of its own and the
 * other's colour, and goes again, until the place has hosted the game's
 * meetings and closes.  Two processors (MAXPROCS=2).  The figure is the
 * time of both games divided by their meetings: nanoseconds per meeting.
 * A Go-style benchmark (bench.h) whose operation is one meeting, of
 * either game: b->n meetings, half in each game, so that BENCHMARKS.md's
 * N=6M (6M meetings per game) is -benchtime=12000000x, the default.  The
 * metrics c3_ns and c10_ns are each game's own nanoseconds per meeting.
 * go/chameneos/chameneos_test.go is the same in Go.
 *
 * The meeting place is a goroutine (the "mall") fed by one unbuffered
 * channel of requests {id, colour, reply channel}: it takes two requests,
 * answers each with the other's id and colour on its unbuffered reply
 * channel, N times; then it answers every creature's next request with
 * "closed" and exits.  The Go version (go/chameneos) is the same design, one
 * of the usual Go entries of the benchmarks game.  Rejected: a meeting
 * place built on a mutex and condition variables -- also allowed by the
 * rules, but then this workload would measure rt_mutex / rt_cond, which
 * workload 9 already covers, instead of channel hand-offs.
 *
 * The rules' printed report (the complement table, each creature's count
 * spelled out) is replaced by the one result line; what the report would
 * show is checked instead: the creatures' meeting counts add up to 2N, no
 * creature ever met itself, and the complement function matches the rules'
 * table.
 */
#include "bench.h"

enum { BLUE, RED, YELLOW };

typedef struct request {
    int id;
    int colour;
    rt_chan *reply; /* of struct answer, unbuffered */
} request;

typedef struct answer {
    int other_id; /* -1: the meeting place is closed */
    int other_colour;
} answer;

typedef struct creature {
    int id;
    int colour;       /* written by the creature's goroutine only */
    int64_t meetings; /* reported through the results channel */
    int64_t met_self;
} creature;

/* Per run, set by main before any goroutine of the run starts. */
static rt_chan *place;   /* of struct request, unbuffered */
static rt_chan *results; /* of int (creature index), unbuffered */
static int64_t meetings_left;
static int ncreatures;

static int complement(int a, int b)
{
    if (a == b)
        return a;
    return 3 - a - b; /* the colour that is neither */
}

static void mall(void *arg)
{
    (void)arg;
    request a, b;
    for (int64_t m = 0; m < meetings_left; m++) {
        if (!rt_chan_recv(place, &a) || !rt_chan_recv(place, &b))
            bench_fail("meeting place channel closed");
        answer to_a = {.other_id = b.id, .other_colour = b.colour};
        answer to_b = {.other_id = a.id, .other_colour = a.colour};
        rt_chan_send(a.reply, &to_a);
        rt_chan_send(b.reply, &to_b);
    }
    answer closed = {.other_id = -1, .other_colour = -1};
    for (int i = 0; i < ncreatures; i++) {
        if (!rt_chan_recv(place, &a))
            bench_fail("meeting place channel closed");
        rt_chan_send(a.reply, &closed);
    }
}

static void live(void *arg)
{
    creature *c = arg;
    rt_chan *reply = rt_chan_make(sizeof(answer), 0);
    if (reply == NULL)
        bench_fail("rt_chan_make returned NULL");
    for (;;) {
        request rq = {.id = c->id, .colour = c->colour, .reply = reply};
        rt_chan_send(place, &rq);
        answer an;
        if (!rt_chan_recv(reply, &an))
            bench_fail("reply channel closed");
        if (an.other_id < 0)
            break;
        c->meetings++;
        if (an.other_id == c->id)
            c->met_self++;
        c->colour = complement(c->colour, an.other_colour);
    }
    int idx = c->id;
    rt_chan_send(results, &idx);
}

/* Plays one game of n meetings; returns its elapsed nanoseconds. */
static int64_t game(rt_b *b, const int *colours, int count, int64_t n)
{
    creature cs[10];
    if (count > 10)
        rt_b_fatalf(b, "too many creatures");
    place = rt_chan_make(sizeof(request), 0);
    results = rt_chan_make(sizeof(int), 0);
    if (place == NULL || results == NULL)
        rt_b_fatalf(b, "rt_chan_make returned NULL");
    meetings_left = n;
    ncreatures = count;

    int64_t t0 = rt_nanotime();
    if (rt_go(mall, NULL) <= 0)
        rt_b_fatalf(b, "rt_go failed");
    for (int i = 0; i < count; i++) {
        cs[i] = (creature){.id = i, .colour = colours[i]};
        if (rt_go(live, &cs[i]) <= 0)
            rt_b_fatalf(b, "rt_go failed");
    }
    int64_t total = 0;
    for (int i = 0; i < count; i++) {
        int idx = -1;
        if (!rt_chan_recv(results, &idx) || idx < 0 || idx >= count)
            rt_b_fatalf(b, "bad result %d", idx);
        /* The creature wrote its counts before sending idx: the channel
         * hand-off orders them before this read. */
        total += cs[idx].meetings;
        if (cs[idx].met_self != 0)
            rt_b_fatalf(b, "creature %d met itself %" PRId64 " times", idx,
                        cs[idx].met_self);
    }
    int64_t elapsed = rt_nanotime() - t0;
    if (total != 2 * n)
        rt_b_fatalf(b, "%d creatures: %" PRId64 " meetings counted, want %" PRId64,
                    count, total, 2 * n);
    return elapsed;
}

static void bench_chameneos(rt_b *b)
{
    static const int three[] = {BLUE, RED, YELLOW};
    static const int ten[] = {BLUE,   RED, YELLOW, RED,    YELLOW,
                              BLUE,   RED, YELLOW, RED,    BLUE};
    const int64_t n3 = b->n - b->n / 2, n10 = b->n / 2;
    int64_t e3 = game(b, three, 3, n3);
    int64_t e10 = game(b, ten, 10, n10);
    rt_b_stop_timer(b);

    if (n3 > 0)
        rt_b_report_metric(b, (double)e3 / (double)n3, "c3_ns");
    if (n10 > 0)
        rt_b_report_metric(b, (double)e10 / (double)n10, "c10_ns");
}

static const rt_benchmark benchmarks[] = {{"Chameneos", bench_chameneos}, {NULL, NULL}};

int main(int argc, char **argv)
{
    /* The rules' complement table, checked once before any game. */
    static const int table[3][3] = {
        [BLUE] = {[BLUE] = BLUE, [RED] = YELLOW, [YELLOW] = RED},
        [RED] = {[BLUE] = YELLOW, [RED] = RED, [YELLOW] = BLUE},
        [YELLOW] = {[BLUE] = RED, [RED] = BLUE, [YELLOW] = YELLOW},
    };
    for (int a = 0; a < 3; a++)
        for (int c = 0; c < 3; c++)
            if (complement(a, c) != table[a][c])
                bench_fail("complement(%d, %d) wrong", a, c);
    return bench_run(benchmarks, 12 * 1000 * 1000, argc, argv);
}
