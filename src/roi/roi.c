#include "roi.h"

#include <stdlib.h>
#include <string.h>

bool roi_contains(const double (*pts)[2], int npts, double x, double y)
{
    bool in = false;
    for (int i = 0, j = npts - 1; i < npts; j = i++) {
        double xi = pts[i][0], yi = pts[i][1], xj = pts[j][0], yj = pts[j][1];
        if ((yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi) in = !in;
    }
    return in;
}

int roi_filter_init(roi_filter *f, const cfg_camera *cam, const cfg_detector *det)
{
    memset(f, 0, sizeof *f);
    f->cam = cam;
    if (!det->nroi) return 0;
    f->include = calloc((size_t)det->nroi, sizeof *f->include);
    if (!f->include) return -1;
    for (int i = 0; i < det->nroi; i++)
        for (int k = 0; k < cam->nroi; k++)
            if (strcmp(cam->rois[k].name, det->roi[i]) == 0) f->include[f->ninclude++] = k;
    return 0;
}

void roi_filter_free(roi_filter *f)
{
    free(f->include);
    f->include = NULL;
    f->ninclude = 0;
}

bool roi_filter_accept(const roi_filter *f, double cx, double cy, const char **zones, int max,
                       int *nzones)
{
    const cfg_camera *cam = f->cam;
    int nz = 0;
    for (int k = 0; k < cam->nroi; k++) {
        const cfg_roi *r = &cam->rois[k];
        if (!roi_contains((const double(*)[2])r->pts, r->npts, cx, cy)) continue;
        if (r->exclude) {
            if (nzones) *nzones = 0;
            return false;
        }
        bool listed = f->ninclude == 0;
        for (int i = 0; i < f->ninclude && !listed; i++)
            listed = f->include[i] == k;
        if (listed && zones && nz < max)
            zones[nz++] = r->name;
        else if (listed && !zones)
            nz++;
    }
    if (nzones) *nzones = nz;
    if (f->ninclude == 0) return true;
    for (int i = 0; i < f->ninclude; i++) {
        const cfg_roi *r = &cam->rois[f->include[i]];
        if (roi_contains((const double(*)[2])r->pts, r->npts, cx, cy)) return true;
    }
    return false;
}
