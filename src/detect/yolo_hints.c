/* What an ONNX model's metadata says about its YOLO output layout. The
 * Ultralytics exporter writes "task" on every export, "end2end" on newer
 * ones and the export arguments ("args", a Python dict) with nms: True when
 * NMS was built into the graph. */
#include <string.h>

#include "../infer/infer.h"
#include "yolo_internal.h"

static int truth(const char *v)
{
    if (!v) return -1;
    if (strcmp(v, "True") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0) return 1;
    if (strcmp(v, "False") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0) return 0;
    return -1;
}

void yolo_hints_read(const model_info *mi, int nnames, yolo_hints *h)
{
    h->end2end = truth(mi->meta_end2end);
    if (h->end2end < 0 && mi->meta_args &&
        (strstr(mi->meta_args, "'nms': True") || strstr(mi->meta_args, "\"nms\": true")))
        h->end2end = 1;
    h->ultralytics = mi->meta_task != NULL;
    h->nnames = nnames;
}
