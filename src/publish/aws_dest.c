/* The AWS publishers' destination: the shared AWS session, the region and
 * the service's endpoint override. */
#include <stdio.h>
#include <string.h>

#include "aws_publish.h"

kerr_code aws_dest_open(aws_dest *d, const config *cfg, int endpoint_index, const char *publisher,
                        kerr *err)
{
    memset(d, 0, sizeof *d);
    if (!cfg || !cfg->aws_region)
        return kerr_set(err, KERR_INVALID, "the %s publisher needs aws_region in the config",
                        publisher);
    if (!(d->aws =
              aws_shared_acquire(cfg->ca_bundle, cfg->endpoint[CFG_EP_STS], cfg->aws_region, err)))
        return err ? err->code : KERR_INVALID;
    snprintf(d->region, sizeof d->region, "%s", cfg->aws_region);
    snprintf(d->endpoint, sizeof d->endpoint, "%s",
             cfg->endpoint[endpoint_index] ? cfg->endpoint[endpoint_index] : "");
    return KERR_OK;
}

void aws_dest_close(aws_dest *d)
{
    if (d->aws) aws_shared_release();
    d->aws = NULL;
}
