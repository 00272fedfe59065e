/* Private to the AWS publishers (kinesis.c, s3.c, dynamodb.c). */
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
void aws_dest_close(aws_dest *d);

/* Signed calls with the current credentials; an expired token is refreshed
 * and the call tried once more. */
kerr_code aws_call_with_creds(const aws_shared *a, const aws_target *t, const char *operation,
                              const char *body, aws_http_response *resp, aws_error *aerr,
                              kerr *err);
kerr_code aws_signed_call_with_creds(const aws_shared *a, const aws_call *call,
                                     aws_http_response *resp, aws_error *aerr, kerr *err);

#endif
