/* The running cameras, under a lock of their own: the API and /readyz look
 * through it while the app's threads (main, the cluster's coordinator) add
 * and remove. Nothing else is guarded by it. */
#include <stdlib.h>
#include <string.h>

#include "app.h"

void camera_list_init(camera_list *l)
{
    memset(l, 0, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
}

void camera_list_free(camera_list *l)
{
    free(l->v);
    l->v = NULL;
    l->n = 0;
    pthread_mutex_destroy(&l->mu);
}

bool camera_list_add(camera_list *l, camera *c)
{
    pthread_mutex_lock(&l->mu);
    camera **n = realloc(l->v, (size_t)(l->n + 1) * sizeof *n);
    if (n) {
        l->v = n;
        l->v[l->n++] = c;
    }
    pthread_mutex_unlock(&l->mu);
    return n != NULL;
}

bool camera_list_remove(camera_list *l, camera *c)
{
    bool found = false;
    pthread_mutex_lock(&l->mu);
    for (int i = 0; i < l->n && !found; i++)
        if (l->v[i] == c) {
            l->v[i] = l->v[--l->n];
            found = true;
        }
    pthread_mutex_unlock(&l->mu);
    return found;
}

camera **camera_list_lock(camera_list *l, int *n)
{
    pthread_mutex_lock(&l->mu);
    *n = l->n;
    return l->v;
}

void camera_list_unlock(camera_list *l)
{
    pthread_mutex_unlock(&l->mu);
}

camera *camera_list_find(camera **v, int n, const char *name, int *at)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i]->cfg->name, name) == 0) {
            if (at) *at = i;
            return v[i];
        }
    return NULL;
}
