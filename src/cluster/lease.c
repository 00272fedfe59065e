/* The lease table's calls. Item: camera (S, the key), owner (S, the
 * worker_id, "" when free), instance (S, the owning process), counter (N),
 * fragment (S) and start_ms (N): the checkpoint, hash (S): the owner's
 * config hash, config_version (S): the version of the whole config the
 * owner runs, config_refused (S): the last version it refused and why ("").
 * Every write but the first is conditional on the counter (and owner) the
 * writer last saw. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"

/* KERR_AGAIN for a failed condition, KERR_IO for everything that means the
 * table could not be asked (throttling included), KERR_INVALID otherwise. */
static kerr_code call(lease_table *lt, const char *op, json_t *body, json_t **out, kerr *err)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text) return kerr_set(err, KERR_NOMEM, "out of memory");
    aws_http_response resp;
    aws_error ae;
    memset(&ae, 0, sizeof ae);
    kerr_code rc = aws_call_with_creds(lt->aws, &lt->t, op, text, &resp, &ae, err);
    free(text);
    if (rc == KERR_OK && out) *out = json_loads(resp.body ? resp.body : "{}", 0, NULL);
    aws_http_response_free(&resp);
    if (rc == KERR_OK) return KERR_OK;
    if (strcmp(ae.code, "ConditionalCheckFailedException") == 0) return KERR_AGAIN;
    if (strcmp(ae.code, "ResourceNotFoundException") == 0) return KERR_NOT_FOUND;
    return rc == KERR_INVALID && !ae.throttle ? KERR_INVALID : KERR_IO;
}

static kerr_code describe(lease_table *lt, json_t **out, kerr *err)
{
    return call(lt, "DescribeTable", json_pack("{ss}", "TableName", lt->table), out, err);
}

kerr_code lease_table_ensure(lease_table *lt, kerr *err)
{
    json_t *d = NULL;
    kerr_code rc = describe(lt, &d, err);
    if (rc == KERR_NOT_FOUND) {
        json_t *body =
            json_pack("{ss s[{ssss}] s[{ssss}] ss}", "TableName", lt->table, "AttributeDefinitions",
                      "AttributeName", "camera", "AttributeType", "S", "KeySchema", "AttributeName",
                      "camera", "KeyType", "HASH", "BillingMode", "PAY_PER_REQUEST");
        rc = call(lt, "CreateTable", body, NULL, err);
        if (rc != KERR_OK) { /* another worker may have made it meanwhile */
            kerr why = *err;
            if (describe(lt, &d, err) == KERR_OK) goto check;
            if (rc != KERR_INVALID) return kerr_set(err, rc, "%s", why.msg);
            return kerr_set(err, KERR_INVALID,
                            "lease table %s is missing and cannot be created (%s): create it "
                            "(key: camera, a string) or allow dynamodb:CreateTable",
                            lt->table, why.msg);
        }
        for (int i = 0; i < 100; i++) { /* CREATING -> ACTIVE takes seconds on AWS */
            json_decref(d);
            d = NULL;
            if (describe(lt, &d, err) == KERR_OK &&
                strcmp(
                    json_string_value(json_object_get(json_object_get(d, "Table"), "TableStatus"))
                        ?: "",
                    "ACTIVE") == 0)
                break;
            clock_sleep_ns(200000000);
        }
        log_info("cluster: created the lease table %s (on-demand billing)", lt->table);
    } else if (rc != KERR_OK)
        return rc;
check:;
    json_t *ks = json_object_get(json_object_get(d, "Table"), "KeySchema");
    json_t *k0 = json_array_get(ks, 0);
    const char *name = json_string_value(json_object_get(k0, "AttributeName"));
    bool ok = json_array_size(ks) == 1 && name && strcmp(name, "camera") == 0;
    json_decref(d);
    if (!ok)
        return kerr_set(err, KERR_INVALID,
                        "lease table %s has the wrong key schema: it must be keyed by \"camera\" "
                        "(a string) alone; use another table name",
                        lt->table);
    return KERR_OK;
}

static const char *item_string(json_t *item, const char *k)
{
    return json_string_value(json_object_get(json_object_get(item, k), "S"));
}

bool lease_parse_counter(const char *text, int64_t *out)
{
    const char *p = text && *text == '-' ? text + 1 : text;
    if (!p || !*p || strspn(p, "0123456789") != strlen(p)) return false; /* 1.5, 1e3, " 1" */
    errno = 0;
    char *end = NULL;
    long long x = strtoll(text, &end, 10);
    if (errno == ERANGE || *end || x == LLONG_MAX) return false; /* +1 must still fit */
    *out = x;
    return true;
}

static const char *n_text(json_t *item, const char *k)
{
    return json_string_value(json_object_get(json_object_get(item, k), "N"));
}

static void read_lease(json_t *item, lease *l)
{
    memset(l, 0, sizeof *l);
    const char *cam = item_string(item, "camera"), *owner = item_string(item, "owner");
    const char *counter = n_text(item, "counter");
    snprintf(l->camera, sizeof l->camera, "%s", cam ? cam : "");
    snprintf(l->owner, sizeof l->owner, "%s", owner ? owner : "");
    snprintf(l->instance, sizeof l->instance, "%s", item_string(item, "instance") ?: "");
    snprintf(l->fragment, sizeof l->fragment, "%s", item_string(item, "fragment") ?: "");
    snprintf(l->hash, sizeof l->hash, "%s", item_string(item, "hash") ?: "");
    snprintf(l->wanted, sizeof l->wanted, "%s", item_string(item, "wanted") ?: "");
    snprintf(l->wanted_instance, sizeof l->wanted_instance, "%s",
             item_string(item, "wanted_instance") ?: "");
    if (counter && strlen(counter) < sizeof l->counter_raw)
        snprintf(l->counter_raw, sizeof l->counter_raw, "%s", counter);
    if (!lease_parse_counter(n_text(item, "start_ms"), &l->start_ms)) l->start_ms = 0;
    l->key_fits = cam && strlen(cam) < sizeof l->camera;
    l->valid = l->key_fits && owner && lease_parse_counter(counter, &l->counter) &&
               strlen(owner) < sizeof l->owner;
}

kerr_code lease_scan(lease_table *lt, lease **out, int *n, kerr *err)
{
    *out = NULL;
    *n = 0;
    json_t *start = NULL;
    for (int page = 0; page < 1000; page++) {
        json_t *body = json_pack("{sssb}", "TableName", lt->table, "ConsistentRead", 1);
        if (start) json_object_set_new(body, "ExclusiveStartKey", start);
        json_t *res = NULL;
        kerr_code rc = call(lt, "Scan", body, &res, err);
        if (rc != KERR_OK) {
            free(*out);
            *out = NULL;
            *n = 0;
            return rc;
        }
        json_t *items = json_object_get(res, "Items");
        size_t m = json_array_size(items);
        lease *grown = realloc(*out, sizeof *grown * ((size_t)*n + m + 1));
        if (!grown) {
            json_decref(res);
            return kerr_set(err, KERR_NOMEM, "out of memory");
        }
        *out = grown;
        for (size_t i = 0; i < m; i++)
            read_lease(json_array_get(items, i), &(*out)[(*n)++]);
        start = json_incref(json_object_get(res, "LastEvaluatedKey"));
        json_decref(res);
        if (!start) return KERR_OK;
    }
    json_decref(start);
    return KERR_OK;
}

kerr_code lease_create(lease_table *lt, const char *camera, kerr *err)
{
    json_t *body = json_pack("{ss s{s{ss}s{ss}s{ss}} ss}", "TableName", lt->table, "Item", "camera",
                             "S", camera, "owner", "S", "", "counter", "N", "0",
                             "ConditionExpression", "attribute_not_exists(camera)");
    kerr_code rc = call(lt, "PutItem", body, NULL, err);
    return rc == KERR_AGAIN ? KERR_OK : rc; /* another worker made it first */
}

/* Every attribute goes by an alias: some of ours are reserved words. Only
 * the aliases the expressions use are sent: DynamoDB refuses unused ones. */
static kerr_code update(lease_table *lt, const char *camera, const char *set, const char *cond,
                        json_t *values, kerr *err)
{
    static const char *const alias[][2] = {
        {"#o", "owner"},          {"#c", "counter"},         {"#i", "instance"},
        {"#f", "fragment"},       {"#t", "start_ms"},        {"#h", "hash"},
        {"#w", "wanted"},         {"#x", "wanted_instance"}, {"#v", "config_version"},
        {"#r", "config_refused"},
    };
    json_t *names = json_object();
    for (size_t k = 0; k < sizeof alias / sizeof alias[0]; k++)
        if (strstr(set, alias[k][0]) || strstr(cond, alias[k][0]))
            json_object_set_new(names, alias[k][0], json_string(alias[k][1]));
    json_t *body =
        json_pack("{ss s{s{ss}} ss ss so so}", "TableName", lt->table, "Key", "camera", "S", camera,
                  "UpdateExpression", set, "ConditionExpression", cond, "ExpressionAttributeNames",
                  names, "ExpressionAttributeValues", values);
    return call(lt, "UpdateItem", body, NULL, err);
}

static json_t *num(int64_t v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", (long long)v);
    return json_pack("{ss}", "N", b);
}

static void set_versions(json_t *v, const lease_owner *me)
{
    json_object_set_new(v, ":v", json_pack("{ss}", "S", me->version ? me->version : ""));
    json_object_set_new(v, ":r", json_pack("{ss}", "S", me->refused ? me->refused : ""));
}

kerr_code lease_take(lease_table *lt, const lease *seen, const lease_owner *me, const char *hash,
                     const char *fragment, int64_t start_ms, kerr *err)
{
    json_t *v = json_pack("{s{ss}s{ss}s{ss}s{ss}s{ss}so}", ":me", "S", me->worker_id, ":i", "S",
                          me->instance, ":was", "S", seen->owner, ":h", "S", hash, ":f", "S",
                          fragment ? fragment : "", ":seen", num(seen->counter));
    json_object_set_new(v, ":one", num(1));
    json_object_set_new(v, ":t", num(start_ms));
    set_versions(v, me);
    return update(lt, seen->camera,
                  "SET #o = :me, #i = :i, #c = #c + :one, #h = :h, #f = :f, #t = :t, #v = :v, "
                  "#r = :r REMOVE #w, #x",
                  "#c = :seen AND #o = :was", v, err);
}

static kerr_code own_write(lease_table *lt, const char *camera, const lease_owner *me,
                           int64_t counter, const char *fragment, int64_t start_ms, bool keep,
                           kerr *err)
{
    json_t *v = json_pack("{s{ss}s{ss}s{ss}s{ss}so so so}", ":me", "S", me->worker_id, ":i", "S",
                          me->instance, ":next", "S", keep ? me->worker_id : "", ":f", "S",
                          fragment ? fragment : "", ":held", num(counter), ":one", num(1), ":t",
                          num(start_ms));
    set_versions(v, me);
    /* A renewal fails once someone asked for the lease: the owner learns it
     * there and hands it over (coordinator.c); a release frees it for all. */
    return update(lt, camera,
                  keep ? "SET #o = :next, #c = #c + :one, #f = :f, #t = :t, #v = :v, #r = :r"
                       : "SET #o = :next, #c = #c + :one, #f = :f, #t = :t, #v = :v, #r = :r "
                         "REMOVE #w, #x",
                  keep ? "#o = :me AND #i = :i AND #c = :held AND attribute_not_exists(#w)"
                       : "#o = :me AND #i = :i AND #c = :held",
                  v, err);
}

kerr_code lease_renew(lease_table *lt, const char *camera, const lease_owner *me, int64_t counter,
                      const char *fragment, int64_t start_ms, kerr *err)
{
    return own_write(lt, camera, me, counter, fragment, start_ms, true, err);
}

kerr_code lease_want(lease_table *lt, const lease *seen, const lease_owner *me, kerr *err)
{
    json_t *v = json_pack("{s{ss}s{ss}s{ss}s{ss}so}", ":me", "S", me->worker_id, ":i", "S",
                          me->instance, ":was", "S", seen->owner, ":wasi", "S", seen->instance,
                          ":seen", num(seen->counter));
    return update(lt, seen->camera, "SET #w = :me, #x = :i",
                  "#c = :seen AND #o = :was AND #i = :wasi AND attribute_not_exists(#w)", v, err);
}

kerr_code lease_hand(lease_table *lt, const char *camera, const lease_owner *me, int64_t counter,
                     const lease_owner *to, const char *fragment, int64_t start_ms, kerr *err)
{
    json_t *v = json_pack("{s{ss}s{ss}s{ss}s{ss}s{ss}so so so}", ":me", "S", me->worker_id, ":i",
                          "S", me->instance, ":to", "S", to->worker_id, ":toi", "S", to->instance,
                          ":f", "S", fragment ? fragment : "", ":held", num(counter), ":one",
                          num(1), ":t", num(start_ms));
    return update(lt, camera,
                  "SET #o = :to, #i = :toi, #c = #c + :one, #f = :f, #t = :t REMOVE #w, #x",
                  "#o = :me AND #i = :i AND #c = :held AND #w = :to AND #x = :toi", v, err);
}

kerr_code lease_release(lease_table *lt, const char *camera, const lease_owner *me, int64_t counter,
                        const char *fragment, int64_t start_ms, kerr *err)
{
    return own_write(lt, camera, me, counter, fragment, start_ms, false, err);
}

kerr_code lease_repair(lease_table *lt, const lease *seen, kerr *err)
{
    /* Only while it is still not a lease: of the wrong shape, or with the very
     * counter seen (a number that is no int64 counter, like 1.5). */
    char cond[256] = "attribute_not_exists(#o) OR attribute_not_exists(#c) OR NOT "
                     "attribute_type(#o, :s) OR NOT attribute_type(#c, :n)";
    json_t *values = json_pack("{s{ss}s{ss}}", ":s", "S", "S", ":n", "S", "N");
    if (seen->counter_raw[0]) {
        strcat(cond, " OR #c = :raw");
        json_object_set_new(values, ":raw", json_pack("{ss}", "N", seen->counter_raw));
    }
    json_t *body = json_pack("{ss s{s{ss}s{ss}s{ss}} ss s{ssss} so}", "TableName", lt->table,
                             "Item", "camera", "S", seen->camera, "owner", "S", "", "counter", "N",
                             "0", "ConditionExpression", cond, "ExpressionAttributeNames", "#o",
                             "owner", "#c", "counter", "ExpressionAttributeValues", values);
    return call(lt, "PutItem", body, NULL,
                err); /* AGAIN: changed meanwhile; seen at the next scan */
}
