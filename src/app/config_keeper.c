/* The configs in use, counted (see config_keeper in app.h). A reload swaps
 * the current one while the API's threads read it: each reader holds a
 * reference for as long as it reads, and whoever drops the last one frees
 * the config, so neither side waits for the other's work. */
#include <stdlib.h>
#include <string.h>

#include "app.h"

/* Under k->mu. */
static bool hold_locked(config_keeper *k, config *cfg)
{
    for (int i = 0; i < k->n; i++)
        if (k->v[i].cfg == cfg) return ++k->v[i].refs > 0;
    struct held_config *n = realloc(k->v, (size_t)(k->n + 1) * sizeof *n);
    if (!n) return false;
    k->v = n;
    k->v[k->n++] = (struct held_config){cfg, 1};
    return true;
}

/* Under k->mu: the config to free when that was its last reference, or NULL. */
static config *release_locked(config_keeper *k, const config *cfg)
{
    for (int i = 0; i < k->n; i++) {
        if (k->v[i].cfg != cfg || --k->v[i].refs > 0) continue;
        config *gone = k->v[i].cfg;
        k->v[i] = k->v[--k->n];
        return gone;
    }
    return NULL;
}

bool config_keeper_init(config_keeper *k, config *first)
{
    memset(k, 0, sizeof *k);
    pthread_mutex_init(&k->mu, NULL);
    if (!hold_locked(k, first)) {
        pthread_mutex_destroy(&k->mu);
        return false;
    }
    k->current = first;
    return true;
}

void config_keeper_free(config_keeper *k)
{
    for (int i = 0; i < k->n; i++)
        config_free(k->v[i].cfg);
    free(k->v);
    k->v = NULL;
    k->n = 0;
    k->current = NULL;
    pthread_mutex_destroy(&k->mu);
}

bool config_keeper_hold(config_keeper *k, config *cfg)
{
    pthread_mutex_lock(&k->mu);
    bool ok = hold_locked(k, cfg);
    pthread_mutex_unlock(&k->mu);
    return ok;
}

void config_keeper_release(config_keeper *k, const config *cfg)
{
    pthread_mutex_lock(&k->mu);
    config *gone = release_locked(k, cfg);
    pthread_mutex_unlock(&k->mu);
    config_free(gone); /* outside the lock: a reader never waits for a free */
}

config *config_keeper_current(config_keeper *k)
{
    pthread_mutex_lock(&k->mu);
    config *cfg = k->current;
    hold_locked(k, cfg); /* held already (the keeper's own): only a count */
    pthread_mutex_unlock(&k->mu);
    return cfg;
}

void config_keeper_swap(config_keeper *k, config *next)
{
    pthread_mutex_lock(&k->mu);
    config *old = k->current;
    k->current = next;
    config *gone = release_locked(k, old);
    pthread_mutex_unlock(&k->mu);
    config_free(gone);
}
