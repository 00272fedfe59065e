/* kvs_infer_build_info's labels: what was built (the project version and the
 * git revision CMake saw at configure time) and what it runs on (the ONNX
 * Runtime and FFmpeg libraries actually loaded, not the headers). */
#include <libavutil/avutil.h>

#include "../infer/infer.h"
#include "metrics.h"

#ifndef KVS_VERSION
#define KVS_VERSION "0.0.0"
#endif
#ifndef KVS_REVISION
#define KVS_REVISION "unknown"
#endif

void build_info_labels(char *buf, size_t len)
{
    mlabels(buf, len, "version", KVS_VERSION, "revision", KVS_REVISION, "onnxruntime",
            infer_runtime_version(), "ffmpeg", av_version_info(), NULL);
}
