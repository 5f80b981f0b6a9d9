/*
 * tests/api/test_cxx.cpp -- rt.h from C++: the C++ runtime's exception
 * state travels with the goroutine (sched.h, rt__eh_state), an exception
 * out of rt_once_do's function leaves the once done, and rt.h's select
 * macros build as C++.
 *
 * The C++ ABI keeps, per thread, the exceptions being handled by catch
 * blocks and the count of those thrown and not yet caught.  A goroutine
 * that parks inside a catch block (or in a destructor run by unwinding)
 * resumes, maybe on another thread, after other goroutines have thrown and
 * caught on its old one.  Before the runtime saved that state on every
 * switch, a rethrow after the park ended in "terminate called without an
 * active exception", a handler's exception was freed by another
 * goroutine's catch, and std::uncaught_exceptions() lied (an outside
 * tester's find).
 *
 * A plain program (Check's harness is C): each case prints a line, and
 * the exit status is the number of cases that failed.
 */
#include <atomic>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>

#include "rt.h"

namespace {

constexpr int kGoroutines = 64;
constexpr int kRounds = 40;

std::atomic<int> bad{0}, rethrown{0};
rt_waitgroup wg;

std::string name_of(long id, int k) { return "g" + std::to_string(id) + "." + std::to_string(k); }

// A nap whose length varies by goroutine and round, so that others throw
// and catch on this thread meanwhile (0 is a yield).
void nap(long id, int k)
{
    int64_t us = (id * 7 + k) % 5 * 20;
    if (us == 0)
        rt_yield();
    else
        rt_sleep(us * RT_MICROSECOND);
}

// Parks inside a catch block; the exception must still be its own, and
// `throw;` after the park must rethrow it.
void park_in_catch(void *arg)
{
    long id = reinterpret_cast<long>(arg);
    for (int k = 0; k < kRounds; k++) {
        std::string want = name_of(id, k);
        try {
            try {
                throw std::runtime_error(want);
            } catch (const std::exception &e) {
                nap(id, k);
                if (want != e.what() || std::uncaught_exceptions() != 0)
                    bad++;
                try {
                    if (std::current_exception() == nullptr)
                        bad++;
                } catch (...) {
                    bad++;
                }
                throw; // the exception being handled: this goroutine's
            }
        } catch (const std::runtime_error &e) {
            if (want != e.what())
                bad++;
            rethrown++;
        }
        if (std::uncaught_exceptions() != 0 || std::current_exception() != nullptr)
            bad++;
    }
    rt_waitgroup_done(&wg);
}

// Parks in a destructor that unwinding runs: the exception in flight is
// still counted there, and only there.
struct ParkingGuard {
    long id;
    int k;
    ~ParkingGuard()
    {
        nap(id, k);
        if (std::uncaught_exceptions() != 1)
            bad++;
    }
};

void park_while_unwinding(void *arg)
{
    long id = reinterpret_cast<long>(arg);
    for (int k = 0; k < kRounds; k++) {
        try {
            ParkingGuard g{id, k};
            throw std::logic_error(name_of(id, k));
        } catch (const std::logic_error &e) {
            if (name_of(id, k) != e.what())
                bad++;
        }
        if (std::uncaught_exceptions() != 0)
            bad++;
    }
    rt_waitgroup_done(&wg);
}

int run_case(const char *name, void (*fn)(void *))
{
    bad = 0;
    rethrown = 0;
    rt_waitgroup_add(&wg, kGoroutines);
    for (long i = 0; i < kGoroutines; i++)
        rt_go(fn, reinterpret_cast<void *>(i));
    rt_waitgroup_wait(&wg);
    int b = bad.load();
    std::printf("%s: %d goroutines x %d rounds, %d wrong%s\n", name, kGoroutines, kRounds, b,
                b ? "  <-- FAILED" : "");
    return b != 0;
}

// Go: "if f panics, Do considers it to have returned; future calls of Do
// return without calling f".  Without that, the once stayed locked and
// the next rt_once_do was "all goroutines are asleep - deadlock!".
rt_once once;
int once_calls;

void throws_once()
{
    once_calls++;
    throw std::runtime_error("from the once");
}

int once_case()
{
    bool caught = false;
    try {
        rt_once_do(&once, throws_once);
    } catch (const std::runtime_error &) {
        caught = true;
    }
    rt_once_do(&once, throws_once); // done: returns without calling it
    bool ok = caught && once_calls == 1;
    std::printf("rt_once_do with a throwing function: caught %d, calls %d%s\n", caught,
                once_calls, ok ? "" : "  <-- FAILED");
    return !ok;
}

// RT_SEND and RT_RECV are C compound literals in C; in C++ (no compound
// literals) aggregates with every member given: this file builds with
// -Wall -Wextra -Werror, where the C form drew "missing initializer".
int select_case()
{
    rt_chan *c = rt_chan_make(sizeof(int), 1);
    int out = 42, in = 0;
    rt_select_case send[] = {RT_SEND(c, &out)};
    rt_select_case recv[] = {RT_RECV(c, &in), RT_RECV(nullptr, nullptr)};
    bool ok = rt_select(send, 1, true) == 0 && rt_select(recv, 2, true) == 0 && in == 42 &&
              recv[0].ok;
    std::printf("RT_SEND/RT_RECV from C++: %s\n", ok ? "ok" : "wrong  <-- FAILED");
    return !ok;
}

int body(int, char **)
{
    rt_maxprocs(4); // goroutines move between threads
    int failed = 0;
    failed += run_case("park inside catch, then rethrow", park_in_catch);
    failed += run_case("park in a destructor during unwinding", park_while_unwinding);
    failed += once_case();
    failed += select_case();
    return failed;
}

} // namespace

int main(int argc, char **argv) { return rt_main(body, argc, argv); }
