/* roi: named polygons in fractions of the frame, so they survive resolution
 * changes. Semantics (also in docs/detectors.md):
 *  - a detection's point is the centre of its box;
 *  - a zone with `exclude: true` drops every detection centred in it, for all
 *    detectors of the camera;
 *  - a detector with `roi: [a, b]` keeps only detections centred in a or b;
 *    a detector without `roi:` sees the whole frame (minus exclusions);
 *  - the event lists the include zones that contain the centre. */
#ifndef KVS_ROI_H
#define KVS_ROI_H

#include <stdbool.h>

#include "../config/config.h"

/* Point-in-polygon (even-odd rule), point and polygon in the same units. */
bool roi_contains(const double (*pts)[2], int npts, double x, double y);

typedef struct {
    const cfg_camera *cam;
    int *include; /* indexes of cam->rois this detector is limited to */
    int ninclude;
} roi_filter;

/* Builds the filter for one detector of the camera. */
int roi_filter_init(roi_filter *f, const cfg_camera *cam, const cfg_detector *det);
void roi_filter_free(roi_filter *f);
/* cx, cy are fractions of width and height. Returns whether the detection is
 * kept; zones (NULL allowed) receives the names of include zones containing
 * the point, up to max. */
bool roi_filter_accept(const roi_filter *f, double cx, double cy, const char **zones, int max,
                       int *nzones);

#endif
