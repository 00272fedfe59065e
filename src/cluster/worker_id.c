/* Which worker this is, in the names operators already use: cluster.worker_id
 * when set (on Kubernetes, the pod name through the Downward API), else the
 * ECS task id from the task metadata endpoint, else hostname-pid. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster.h"

/* ECS sets ECS_CONTAINER_METADATA_URI_V4 in every container; its /task
 * document names the task: arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID. */
static bool ecs_task_id(aws_http *http, char *out, size_t len)
{
    const char *base = getenv("ECS_CONTAINER_METADATA_URI_V4");
    if (!base || !*base || !http) return false;
    char url[1024];
    snprintf(url, sizeof url, "%s/task", base);
    aws_http_response resp;
    kerr err = {0};
    if (aws_http_do(http, "GET", url, NULL, 0, NULL, 0, 2000, &resp, &err) != KERR_OK) {
        log_warn("cluster: the ECS task metadata (%s) did not answer: %s", url, err.msg);
        return false;
    }
    json_t *doc = resp.status == 200 && resp.body ? json_loads(resp.body, 0, NULL) : NULL;
    const char *arn = json_string_value(json_object_get(doc, "TaskARN"));
    const char *id = arn ? strrchr(arn, '/') : NULL;
    bool ok = id && id[1] && strlen(id + 1) < len;
    if (ok)
        snprintf(out, len, "%s", id + 1);
    else
        log_warn("cluster: the ECS task metadata at %s names no task (TaskARN)", url);
    json_decref(doc);
    aws_http_response_free(&resp);
    return ok;
}

void cluster_worker_id(const char *configured, aws_http *http, char *out, size_t len)
{
    if (configured && *configured) {
        snprintf(out, len, "%s", configured);
        return;
    }
    if (ecs_task_id(http, out, len)) return;
    char host[128] = "worker";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    snprintf(out, len, "%s-%d", host, (int)getpid());
}
