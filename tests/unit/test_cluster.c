/* The cluster coordinator's decisions (src/cluster/plan.c) and the lease
 * counter's parsing (lease.c), over lease tables written here as data: fair
 * shares count only the cameras a worker can run (issue 26, finding 15), the
 * steal victim is chosen among workers holding such cameras, a lease that
 * just moved is not stolen back (finding 17), a counter that is no int64 is
 * not a lease (finding 14), a camera nobody runs is noticed, and a lease
 * being handed over counts as the asking worker's (issue 28). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cluster/plan.h"

#define LEASE_MS 4000
#define S_NS 1000000000LL

static void counter_strict(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        bool ok;
        int64_t v;
    } k[] = {
        {"0", true, 0},
        {"1", true, 1},
        {"-3", true, -3},
        {"9223372036854775806", true, 9223372036854775806LL},
        {"9223372036854775807", false, 0},  /* +1 would overflow */
        {"99999999999999999999", false, 0}, /* strtoll saturates it */
        {"-99999999999999999999", false, 0},
        {"1.5", false, 0},
        {"1E+3", false, 0},
        {"1e3", false, 0},
        {" 1", false, 0},
        {"+1", false, 0},
        {"12abc", false, 0},
        {"-", false, 0},
        {"", false, 0},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        int64_t v = 42;
        bool ok = lease_parse_counter(k[i].text, &v);
        if (ok != k[i].ok) fail_msg("counter \"%s\": %s", k[i].text, ok ? "accepted" : "refused");
        if (ok) assert_int_equal(v, k[i].v);
    }
    int64_t v;
    assert_false(lease_parse_counter(NULL, &v));
}

/* A table: leases[i] owned by owners[i] ("" free), all valid and, unless
 * free, live; `lists` is the prefix of the cameras this worker lists. */
typedef struct {
    lease l[32];
    seen_lease s[32];
    int n;
} table;

static void put(table *t, const char *camera, const char *owner, bool listed)
{
    lease *l = &t->l[t->n];
    memset(l, 0, sizeof *l);
    snprintf(l->camera, sizeof l->camera, "%s", camera);
    snprintf(l->owner, sizeof l->owner, "%s", owner);
    snprintf(l->instance, sizeof l->instance, "i-%s", owner);
    l->valid = l->key_fits = true;
    t->s[t->n] = (seen_lease){.l = l, .vacant = !*owner, .live = *owner != 0, .listed = listed};
    t->n++;
}

static int worker_index(const plan_worker *w, int nw, const char *owner)
{
    for (int i = 0; i < nw; i++)
        if (strcmp(w[i].owner, owner) == 0) return i;
    return -1;
}

/* Three workers run c1-c6; a fourth lists x1-x6 only: it runs all of them
 * (it shares them with nobody), and the c-workers' shares stay 2. */
static void fair_share_counts_runnable_cameras(void **state)
{
    (void)state;
    const char *c_owner[] = {"w1", "w1", "w2", "w2", "w3", "w3"};
    char name[8];
    table x = {0}; /* as the x-worker sees it, before it took anything */
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "c%d", i + 1);
        put(&x, name, c_owner[i], false);
        snprintf(name, sizeof name, "x%d", i + 1);
        put(&x, name, "", true);
    }
    plan_worker w[33];
    int total = 0;
    int nw = plan_workers(x.s, x.n, "wx", "i-wx", w, &total);
    assert_int_equal(total, 6);
    assert_int_equal(nw, 1);
    assert_int_equal(plan_fair(total, nw, 0), 6);
    assert_int_equal(plan_fair(total, nw, 4), 4); /* max_cameras caps it */

    table c = {0}; /* as w1 sees it once the x-worker runs x1-x6 */
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "c%d", i + 1);
        put(&c, name, c_owner[i], true);
        snprintf(name, sizeof name, "x%d", i + 1);
        put(&c, name, "wx", false);
    }
    nw = plan_workers(c.s, c.n, "w1", "i-w1", w, &total);
    assert_int_equal(total, 6);
    assert_int_equal(nw, 3);
    assert_int_equal(worker_index(w, nw, "wx"), -1);
    assert_int_equal(plan_fair(total, nw, 0), 2);
}

/* w1 holds 1 of c1-c6, w2 holds 5, the x-worker 6 others: w1 steals from w2,
 * never from the x-worker (nothing of it could be taken). */
static void steal_victim_holds_runnable_cameras(void **state)
{
    (void)state;
    table t = {0};
    char name[8];
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof name, "c%d", i + 1);
        put(&t, name, i == 0 ? "w1" : "w2", true);
        snprintf(name, sizeof name, "x%d", i + 1);
        put(&t, name, "wx", false);
    }
    plan_worker w[33];
    int total = 0;
    int nw = plan_workers(t.s, t.n, "w1", "i-w1", w, &total);
    int held = 1;
    assert_true(held < plan_fair(total, nw, 0));
    int v = plan_victim(w, nw, held);
    assert_true(v > 0);
    assert_string_equal(w[v].owner, "w2");
    assert_int_equal(w[v].count, 5);
    assert_int_equal(plan_victim(w, nw, 4), -1); /* 5 vs 4: stealing would only swap */
}

/* A steal in flight (issue 28): w2 holds c2-c5 and w3 asked for c5. c5
 * counts as w3's already, so w1 (holding c1 and c6) finds w2 at 3, one more
 * than it: no second steal from w2, which would leave w2 with 2 and w1 with
 * 3. A lease w1 asked for itself is counted for no other worker (w1's own
 * count is what it holds or asked for). */
static void lease_being_handed_over_counts_as_the_askers(void **state)
{
    (void)state;
    table t = {0};
    put(&t, "c1", "w1", true);
    put(&t, "c2", "w2", true);
    put(&t, "c3", "w2", true);
    put(&t, "c4", "w2", true);
    put(&t, "c5", "w2", true);
    snprintf(t.l[4].wanted, sizeof t.l[4].wanted, "w3");
    snprintf(t.l[4].wanted_instance, sizeof t.l[4].wanted_instance, "i-w3");
    put(&t, "c6", "w1", true);
    plan_worker w[33];
    int total = 0;
    int nw = plan_workers(t.s, t.n, "w1", "i-w1", w, &total);
    assert_int_equal(total, 6);
    assert_int_equal(nw, 3);
    assert_int_equal(w[worker_index(w, nw, "w2")].count, 3);
    assert_int_equal(w[worker_index(w, nw, "w3")].count, 1);
    assert_int_equal(plan_victim(w, nw, 2), -1);

    snprintf(t.l[4].wanted, sizeof t.l[4].wanted, "w1");
    snprintf(t.l[4].wanted_instance, sizeof t.l[4].wanted_instance, "i-w1");
    nw = plan_workers(t.s, t.n, "w1", "i-w1", w, &total);
    assert_int_equal(nw, 2);
    assert_int_equal(w[0].count, 0);
    assert_int_equal(w[1].count, 3);
    assert_int_equal(plan_victim(w, nw, 3), -1); /* 2 held + 1 asked for: 3 vs 3 */
}

/* Invalid and expired leases count towards the total (they are to be run)
 * but their owners are no workers to share with. */
static void dead_and_invalid_owners_are_no_workers(void **state)
{
    (void)state;
    table t = {0};
    put(&t, "c1", "w1", true);
    put(&t, "c2", "dead", true);
    t.s[1].live = false, t.s[1].expired = true;
    put(&t, "c3", "w1", true);
    t.l[2].valid = false, t.s[2].live = false;
    plan_worker w[33];
    int total = 0;
    int nw = plan_workers(t.s, t.n, "me", "i-me", w, &total);
    assert_int_equal(total, 2);
    assert_int_equal(nw, 2);
    assert_int_equal(w[1].count, 1);
    assert_int_equal(worker_index(w, nw, "dead"), -1);
}

/* After a table outage a lease is taken with an old checkpoint: 240 ms later
 * it must not be stolen (the ping-pong of finding 17); it may be once it has
 * stayed put a lease period and its checkpoint moved, or two lease periods. */
static void just_taken_lease_is_not_stolen(void **state)
{
    (void)state;
    int64_t t0 = 1000 * S_NS;
    observed o = {0};
    lease l = {.owner = "w2", .instance = "i-w2", .counter = 7, .start_ms = 1700000000000LL};
    plan_observe(&o, &l, t0 - 60 * S_NS, LEASE_MS); /* first seen long ago, owned by w2 */
    lease taken = l;
    snprintf(taken.owner, sizeof taken.owner, "w3");
    snprintf(taken.instance, sizeof taken.instance, "i-w3");
    taken.counter = 8;
    plan_observe(&o, &taken, t0, LEASE_MS); /* w3 took it, with w2's last checkpoint */
    assert_int_equal(o.owner_ns, t0);
    assert_int_equal(o.owner_start_ms, l.start_ms);
    int64_t old = taken.start_ms;
    assert_false(plan_settled(&o, old, t0 + 240000000LL, LEASE_MS));
    assert_false(plan_settled(&o, old + 2000, t0 + 240000000LL, LEASE_MS)); /* even if it moved */
    assert_false(plan_settled(&o, old, t0 + 5 * S_NS, LEASE_MS)); /* it has not moved since */
    assert_true(plan_settled(&o, old + 2000, t0 + 5 * S_NS, LEASE_MS));
    assert_true(plan_settled(&o, old, t0 + 8 * S_NS, LEASE_MS)); /* two lease periods */
    /* renewals (the counter moving) are no move of the owner */
    taken.counter = 9;
    plan_observe(&o, &taken, t0 + 1 * S_NS, LEASE_MS);
    assert_int_equal(o.owner_ns, t0);
    /* its owner fenced itself (the counter stood still a lease period), then
     * took it back: a take like any other, not stolen within a lease period */
    int64_t t1 = t0 + 20 * S_NS;
    plan_observe(&o, &taken, t1 - 4 * S_NS, LEASE_MS); /* unchanged since t0 + 1 s */
    taken.counter = 10;
    taken.start_ms = old + 9000;
    plan_observe(&o, &taken, t1, LEASE_MS);
    assert_int_equal(o.owner_ns, t1);
    assert_false(plan_settled(&o, taken.start_ms, t1 + 1 * S_NS, LEASE_MS));
    assert_true(plan_settled(&o, taken.start_ms + 2000, t1 + 5 * S_NS, LEASE_MS));
    /* a source without fragments: no checkpoint, two lease periods */
    observed f = {0};
    lease nf = {.owner = "w1", .instance = "i-w1"};
    plan_observe(&f, &nf, t0, LEASE_MS);
    assert_false(plan_settled(&f, 0, t0 + 5 * S_NS, LEASE_MS));
    assert_true(plan_settled(&f, 0, t0 + 8 * S_NS, LEASE_MS));
}

static void unowned_after_two_lease_periods(void **state)
{
    (void)state;
    int64_t t0 = 50 * S_NS;
    observed o = {0};
    plan_mark_unowned(&o, true, t0);
    assert_false(plan_unowned(&o, t0 + 100 * S_NS, LEASE_MS));
    plan_mark_unowned(&o, false, t0);
    plan_mark_unowned(&o, false, t0 + 3 * S_NS); /* still since t0 */
    assert_false(plan_unowned(&o, t0 + 7 * S_NS, LEASE_MS));
    assert_true(plan_unowned(&o, t0 + 8 * S_NS, LEASE_MS));
    plan_mark_unowned(&o, true, t0 + 9 * S_NS);
    assert_false(plan_unowned(&o, t0 + 20 * S_NS, LEASE_MS));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counter_strict),
        cmocka_unit_test(fair_share_counts_runnable_cameras),
        cmocka_unit_test(steal_victim_holds_runnable_cameras),
        cmocka_unit_test(lease_being_handed_over_counts_as_the_askers),
        cmocka_unit_test(dead_and_invalid_owners_are_no_workers),
        cmocka_unit_test(just_taken_lease_is_not_stolen),
        cmocka_unit_test(unowned_after_two_lease_periods),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
