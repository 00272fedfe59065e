/* The camera's clip thread: muxes each open clip's packets into its file as
 * the ring hands them over, and when the clip is over, closes the file and
 * hands it to the spool as clip_ready records (one per event sharing the
 * clip; the first, the clip's owner, carries the MP4). The MP4 never waits for spool room and
 * stays within the clips' share of it (publish_hub_submit_clip): otherwise
 * the clip is "lost". Only the small records wait, like events, and for at
 * most CLIP_CLOSE_MAX_MS once the ring closes. Also the ring's life cycle
 * (new, close, free). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../metrics/metrics.h"
#include "clip_internal.h"

void clip_job_free(clip_job *j)
{
    if (!j) return;
    av_packet_free(&j->pkt);
    avcodec_parameters_free(&j->par);
    for (int i = 0; i < j->nevents; i++)
        free(j->events[i]);
    free(j->events);
    free(j);
}

void clip_writer_enqueue(clip_ring *r, clip_job *j)
{
    r->queued += j->bytes;
    atomic_fetch_add(&clip_total_bytes, (long long)j->bytes);
    if (r->qtail)
        r->qtail->next = j;
    else
        r->qhead = j;
    r->qtail = j;
    pthread_cond_signal(&r->cv);
}

/* The clip_ready record of one event sharing the clip. */
static event *ready_event(const char *json, const clip_file *f, const char *status)
{
    kerr err = {0};
    event *e = event_from_json(json, &err);
    if (!e) return NULL;
    snprintf(e->kind, sizeof e->kind, "clip_ready");
    if (f && f->start_ms >= 0) e->clip.start_ms = f->start_ms, e->clip.end_ms = f->end_ms;
    snprintf(e->clip.status, sizeof e->clip.status, "%s", status);
    return e;
}

static void count(clip_ring *r, const char *status, double secs)
{
    char labels[300];
    mlabels(labels, sizeof labels, "camera", r->camera, "status", status, NULL);
    metric_add(M_CLIPS, labels, 1);
    if (secs > 0) metric_add(M_CLIP_REMUX_SECONDS, r->cam_label, secs);
}

/* Closing (camera_join, a shutdown) and past its bound: a full spool must
 * not hold up the join any longer. */
static bool past_close(void *p)
{
    clip_ring *r = p;
    int64_t by = atomic_load(&r->close_by_ms);
    return (by && clock_wall_ms() > by) || publish_hub_past_drain(r->hub);
}

/* Why clips are lost, once for a run of lost clips of the camera: every
 * one is counted (kvs_infer_clips_total{status="lost"}). */
static void log_lost(clip_ring *r, const char *why)
{
    if (r->lost_logged) return;
    r->lost_logged = true;
    log_kv(LOG_ERROR, LOG_CTX("camera_name", r->camera),
           "clip lost: %s; the events go out, their clip_ready records say \"lost\" (further "
           "lost clips of this camera are only counted until one is kept again)",
           why);
}

static clip_file *find_file(clip_ring *r, uint64_t id, bool unlink)
{
    for (clip_file **p = &r->files; *p; p = &(*p)->next) {
        clip_file *f = *p;
        if (f->id != id) continue;
        if (unlink) *p = f->next;
        return f;
    }
    return NULL;
}

static void open_file(clip_ring *r, clip_job *j)
{
    clip_file *f = calloc(1, sizeof *f);
    if (!f) {
        log_kv(LOG_ERROR, LOG_CTX("camera_name", r->camera), "out of memory starting a clip");
        return; /* its finish finds no file: "failed" */
    }
    f->id = j->clip_id;
    f->start_ms = f->end_ms = -1;
    int64_t t0 = clock_mono_ns();
    clip_mux_open(&f->mux, j->par, j->tb, publish_hub_scratch_dir(r->hub), &f->err);
    f->secs += (double)(clock_mono_ns() - t0) / 1e9;
    f->next = r->files;
    r->files = f;
}

/* One packet into its clip's file; past the drain deadline nothing more is
 * written (the clip goes out "lost"). */
static void write_packet(clip_ring *r, clip_job *j)
{
    clip_file *f = find_file(r, j->clip_id, false);
    if (!f || !f->mux || publish_hub_past_drain(r->hub)) return;
    int64_t t0 = clock_mono_ns();
    if (clip_mux_write(f->mux, j->pkt, j->offset_tb, &f->err) != KERR_OK) {
        clip_mux_abort(f->mux); /* a file with a hole is no clip */
        f->mux = NULL;
    }
    f->secs += (double)(clock_mono_ns() - t0) / 1e9;
    if (f->start_ms < 0 || j->pts_ms < f->start_ms) f->start_ms = j->pts_ms;
    if (j->pts_ms + j->dur_ms > f->end_ms) f->end_ms = j->pts_ms + j->dur_ms;
}

/* The clip is over: its file closed (the fast-start pass) and read, and a
 * clip_ready record for each event sharing it. */
static void deliver(clip_ring *r, clip_job *j)
{
    clip_file *f = find_file(r, j->clip_id, true);
    if (j->nevents == 0) { /* nobody to tell (out of memory naming them) */
        if (f) clip_mux_abort(f->mux);
        free(f);
        return;
    }
    char mp4[4096] = "";
    size_t mp4_len = 0;
    kerr err = {0};
    /* Past the drain deadline: the process is about to end, the fast-start
     * pass would not finish (a closing ring's bounded queue still is). */
    bool skip = publish_hub_past_drain(r->hub);
    kerr_code rc = KERR_AGAIN;
    double secs = f ? f->secs : 0;
    if (!f)
        rc = kerr_set(&err, KERR_NOMEM, "out of memory");
    else if (!f->mux)
        rc = f->err.code ? f->err.code : KERR_IO, err = f->err;
    else if (skip)
        clip_mux_abort(f->mux);
    else {
        int64_t t0 = clock_mono_ns();
        rc = clip_mux_finish(f->mux, mp4, sizeof mp4, &mp4_len, &err);
        secs += (double)(clock_mono_ns() - t0) / 1e9;
    }
    const char *status = skip ? "lost" : rc != KERR_OK ? "failed" : j->cut ? "cut" : "ready";
    if (skip) log_lost(r, "stopping: past the drain deadline, no time left to write it");
    if (rc != KERR_OK && !skip)
        log_kv(LOG_ERROR, LOG_CTX("camera_name", r->camera), "clip not written: %s", err.msg);
    bool handed = false; /* the MP4 file went to the hub with the owner's record */
    for (int i = 0; i < j->nevents; i++) {
        event *e = ready_event(j->events[i], f, status);
        if (!e) {
            log_kv(LOG_ERROR, LOG_CTX("camera_name", r->camera), "clip_ready: out of memory");
            continue;
        }
        if (i == 0 && rc == KERR_OK) { /* the owner's record takes the file */
            e->clip_mp4_file = kstrdup(mp4);
            e->clip_mp4.len = e->clip_mp4_file ? mp4_len : 0;
            handed = e->clip_mp4_file != NULL;
        }
        kerr lost = {0};
        if (!publish_hub_submit_clip(r->hub, e, past_close, r, &lost)) {
            status = "lost"; /* the events sharing it say so too */
            log_lost(r, lost.msg);
        } else if (i == 0 && rc == KERR_OK)
            r->lost_logged = false;
    }
    count(r, status, secs);
    if (mp4[0] && !handed) unlink(mp4); /* else moved into the spool, or removed, by the hub */
    free(f);
}

static void run_job(clip_ring *r, clip_job *j)
{
    if (j->kind == CLIP_JOB_OPEN)
        open_file(r, j);
    else if (j->kind == CLIP_JOB_PACKET)
        write_packet(r, j);
    else
        deliver(r, j);
}

static void *writer_main(void *p)
{
    clip_ring *r = p;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        /* A clip_ready record never overtakes its event: with one camera
         * analysed by one worker at a time, none unsubmitted means every
         * event of the finished clips is in the spool. Packets go to their
         * files meanwhile, but not past a finish waiting for that. */
        while ((!r->qhead && !r->stop) ||
               (r->qhead && r->qhead->kind == CLIP_JOB_FINISH && r->unsubmitted > 0))
            pthread_cond_wait(&r->cv, &r->mu);
        clip_job *j = r->qhead;
        if (!j) break; /* stopping, and nothing is left */
        r->qhead = j->next;
        if (!r->qhead) r->qtail = NULL;
        pthread_mutex_unlock(&r->mu);
        run_job(r, j);
        pthread_mutex_lock(&r->mu);
        r->queued -= j->bytes;
        atomic_fetch_sub(&clip_total_bytes, (long long)j->bytes);
        clip_job_free(j);
    }
    pthread_mutex_unlock(&r->mu);
    /* every open clip was finished before the stop: none is left but one
     * whose finish could not be queued (out of memory) */
    while (r->files) {
        clip_file *f = r->files;
        r->files = f->next;
        clip_mux_abort(f->mux);
        free(f);
    }
    return NULL;
}

clip_ring *clip_ring_new(const cfg_camera *cam, publish_hub *hub, kerr *err)
{
    if (!cam->clip.on || cam->clip.from_kvs) return NULL; /* kvs: kvs_ref.c, no ring */
    clip_ring *r = calloc(1, sizeof *r);
    if (!r) {
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(r->camera, sizeof r->camera, "%s", cam->name);
    mlabels(r->cam_label, sizeof r->cam_label, "camera", cam->name, NULL);
    r->hub = hub;
    r->pre_ms = (int64_t)(cam->clip.pre_seconds * 1000);
    r->post_ms = (int64_t)(cam->clip.post_seconds * 1000);
    r->max_bytes = cam->clip.max_bytes;
    r->slack_ms = CLIP_SLACK_MS + (cam->fps_limit > 0 ? (int64_t)(2000 / cam->fps_limit) : 0);
    atomic_init(&r->analysing_ms, LLONG_MIN);
    atomic_init(&r->hold_ms, LLONG_MAX);
    atomic_init(&r->close_by_ms, 0);
    atomic_init(&r->gen, 0);
    atomic_init(&r->analysing_gen, 0);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->thread, NULL, writer_main, r) != 0) {
        kerr_set(err, KERR_INTERNAL, "cannot start the clip thread");
        clip_ring_free(r);
        return NULL;
    }
    r->thread_started = true;
    return r;
}

void clip_ring_close(clip_ring *r)
{
    if (!r) return;
    atomic_store(&r->close_by_ms, clock_wall_ms() + CLIP_CLOSE_MAX_MS);
    clip_ring_drop_all(r);
    pthread_mutex_lock(&r->mu);
    r->stop = true;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->thread_started) pthread_join(r->thread, NULL);
    r->thread_started = false;
}

void clip_ring_free(clip_ring *r)
{
    if (!r) return;
    clip_ring_close(r);
    free(r->v);
    avcodec_parameters_free(&r->par);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
