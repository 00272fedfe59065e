/* The AWS publishers' destination: the shared AWS session, the region and
 * the service's endpoint override. */
#include <stdio.h>
#include <string.h>

#include "aws_publish.h"

kerr_code aws_dest_open(aws_dest *d, const config *cfg, int endpoint_index, const char *publisher,
                        kerr *err)
{
    return aws_dest_open_in(d, cfg, endpoint_index, publisher, NULL, err);
}

kerr_code aws_dest_open_in(aws_dest *d, const config *cfg, int endpoint_index,
                           const char *publisher, const char *region, kerr *err)
{
    memset(d, 0, sizeof *d);
    if (!region || !*region) region = cfg ? cfg->aws_region : NULL;
    if (!cfg || !region)
        return kerr_set(err, KERR_INVALID, "the %s publisher needs aws_region in the config",
                        publisher);
    /* Credentials (STS for web identity) resolve in the config's region when
     * there is one: the destination's may be another. */
    const char *home = cfg->aws_region ? cfg->aws_region : region;
    if (!(d->aws = aws_shared_acquire(cfg->ca_bundle, cfg->endpoint[CFG_EP_STS], home, err)))
        return err ? err->code : KERR_INVALID;
    snprintf(d->region, sizeof d->region, "%s", region);
    snprintf(d->endpoint, sizeof d->endpoint, "%s",
             cfg->endpoint[endpoint_index] ? cfg->endpoint[endpoint_index] : "");
    return KERR_OK;
}

void aws_dest_close(aws_dest *d)
{
    if (d->aws) aws_shared_release();
    d->aws = NULL;
}
