/* Private to the AWS publishers (kinesis.c, s3.c, dynamodb.c, sns.c, eventbridge.c). */
#ifndef KVS_AWS_PUBLISH_H
#define KVS_AWS_PUBLISH_H

#include "../aws/aws.h"
#include "publish.h"

/* What every AWS publisher holds: the shared loop and credentials, the
 * region and the service's endpoint override. */
typedef struct {
    const aws_shared *aws;
    char region[64], endpoint[512];
} aws_dest;

kerr_code aws_dest_open(aws_dest *d, const config *cfg, int endpoint_index, const char *publisher,
                        kerr *err);
/* Same, in region (NULL: the config's aws_region), e.g. the one a topic's
 * ARN names. */
kerr_code aws_dest_open_in(aws_dest *d, const config *cfg, int endpoint_index,
                           const char *publisher, const char *region, kerr *err);
void aws_dest_close(aws_dest *d);

#endif
