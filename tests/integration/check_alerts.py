#!/usr/bin/env python3
"""Checks what kvs-infer sent to SNS and EventBridge (as alerts_standin.js
recorded it) against the events it produced and against botocore's own
serialisation of the same calls.

  check_alerts.py sns RECORD LOG EVENTS --topic ARN [--links FILE]
  check_alerts.py eventbridge RECORD LOG EVENTS --bus NAME --source S --detail-type T

LOG: kvs-infer's stdout (the events it produced); EVENTS: the local sink's
events.jsonl (the same events as JSON). Every produced event must have been
accepted at least once; SNS FIFO delivers each once (deduplication by event
id), EventBridge accepts each entry once per run (only failed entries are
resent); after a restart (--restart-at: the first request of the second
run) the spool may replay what it had not yet acknowledged: at-least-once."""
import argparse
import datetime
import json
import sys
import urllib.parse

import botocore.session
from botocore import serialize

SESSION = botocore.session.get_session()


def botocore_request(service, operation, params):
    model = SESSION.get_service_model(service)
    op = model.operation_model(operation)
    return serialize.create_serializer(model.metadata["protocol"]).serialize_to_request(params, op)


def produced_ids(log):
    return [json.loads(l)["event_id"] for l in open(log) if '"msg":"event: ' in l]


def records(path, service):
    return [json.loads(l) for l in open(path) if json.loads(l)["service"] == service]


def check_sns(a, local, produced):
    recs = records(a.record, "sns")
    if not recs:
        sys.exit("no SNS request recorded")
    seen, delivered, links = {}, {}, []
    for r in recs:
        if r["content_type"] != "application/x-www-form-urlencoded; charset=utf-8":
            sys.exit(f"request {r['n']}: content type {r['content_type']}")
        form = dict(urllib.parse.parse_qsl(r["body"], keep_blank_values=True, strict_parsing=True))
        msg = form.get("Message", "")
        event = json.loads(msg.rstrip("\n").split("\n")[-1])
        want = local.get(event["event_id"])
        if want is None or event != want:
            sys.exit(f"request {r['n']}: the message's event JSON is not the produced event")
        # The same call as the SDKs make it: what it must be, from the event.
        attrs = {k: {"DataType": "String", "StringValue": v} for k, v in
                 (("camera", want["camera_name"]), ("label", want["label"]),
                  ("detector", want["detector"]), ("event_type", want["event_type"])) if v}
        params = {"TopicArn": a.topic, "Message": msg, "Subject": form.get("Subject", ""),
                  "MessageAttributes": attrs}
        if a.topic.endswith(".fifo"):
            params["MessageGroupId"] = want["camera_name"]
            params["MessageDeduplicationId"] = want["event_id"]
        ref = botocore_request("sns", "Publish", params)
        # botocore numbers the map entries from 1 in the order given (the
        # publisher's): the same parameters, names and numbers.
        if ref["body"] != form:
            sys.exit(f"request {r['n']}: differs from botocore's Publish:\n{form}\n{ref['body']}")
        subject = form["Subject"]
        if want["camera_name"] not in subject or want["label"] not in subject:
            sys.exit(f"request {r['n']}: subject {subject!r} names neither camera nor label")
        for need in (want["camera_name"], want["label"], want["detected_at"]):
            if need not in msg.split("\n")[0]:
                sys.exit(f"request {r['n']}: the first line lacks {need!r}: {msg.splitlines()[0]}")
        link = [l for l in msg.split("\n") if l.startswith("Snapshot (link valid")]
        if want["snapshot"].startswith("s3://"):
            if not link:
                sys.exit(f"request {r['n']}: no snapshot link")
            links.append((link[0].split(": ", 1)[1], want["snapshot"]))
        seen[event["event_id"]] = seen.get(event["event_id"], 0) + 1
        if r["outcome"] == "published":
            delivered[event["event_id"]] = delivered.get(event["event_id"], 0) + 1
    finish("SNS", produced, delivered, len(recs), sum(seen.values()))
    if a.links:
        with open(a.links, "w") as f:
            f.writelines(f"{u}\t{ref}\n" for u, ref in links)


def check_eventbridge(a, local, produced):
    recs = records(a.record, "events")
    if not recs:
        sys.exit("no PutEvents request recorded")
    accepted, sizes, entries_sent = {}, [], 0
    per_run = [{}, {}]
    for r in recs:
        body = json.loads(r["body"])
        if r["target"] != "AWSEvents.PutEvents" or r["content_type"] != "application/x-amz-json-1.1":
            sys.exit(f"request {r['n']}: {r['target']} {r['content_type']}")
        want = []
        for e in body["Entries"]:
            detail = json.loads(e["Detail"])
            ev = local.get(detail.get("event_id"))
            if ev is None or detail != ev:
                sys.exit(f"request {r['n']}: an entry's Detail is not a produced event")
            t = datetime.datetime.fromisoformat(ev["detected_at"].replace("Z", "+00:00"))
            want.append({"Source": a.source, "DetailType": a.detail_type, "Detail": e["Detail"],
                         "EventBusName": a.bus, "Time": t.replace(microsecond=0)})
        ref = botocore_request("events", "PutEvents", {"Entries": want})
        if ref["headers"]["X-Amz-Target"] != r["target"] or json.loads(ref["body"]) != body:
            sys.exit(f"request {r['n']}: differs from botocore's PutEvents:\n{body}\n{ref['body']}")
        sizes.append(len(body["Entries"]))
        entries_sent += len(body["Entries"])
        for e, ok in zip(body["Entries"], r.get("accepted", [])):
            if ok:
                i = json.loads(e["Detail"])["event_id"]
                accepted[i] = 1
                run = per_run[a.restart_at is not None and r["n"] >= a.restart_at]
                run[i] = run.get(i, 0) + 1
    for n, run in enumerate(per_run):
        twice = [i for i, k in run.items() if k > 1]
        if twice:
            sys.exit(f"EventBridge: {len(twice)} entries accepted more than once in run {n + 1}")
    replayed = set(per_run[0]) & set(per_run[1])
    if max(sizes) > 10:
        sys.exit(f"a PutEvents call carried {max(sizes)} entries")
    if len(produced) > 1 and max(sizes) < 2:
        sys.exit("no PutEvents call carried more than one entry: not batched")
    finish("EventBridge", produced, accepted, len(recs), entries_sent)
    print(f"EventBridge batch sizes: max {max(sizes)}, mean {sum(sizes) / len(sizes):.1f}; "
          f"{len(replayed)} replayed after the restart (at-least-once)")


def finish(what, produced, delivered, requests, sent):
    missing = [i for i in produced if i not in delivered]
    extra = [i for i in delivered if i not in produced]
    twice = [i for i, n in delivered.items() if n > 1]
    if not produced or missing:
        sys.exit(f"{what}: {len(missing)} of {len(produced)} produced events never delivered")
    if extra:
        sys.exit(f"{what}: {len(extra)} delivered events were never produced")
    if twice:
        sys.exit(f"{what}: {len(twice)} events delivered more than once")
    print(f"{what}: {len(produced)} events delivered once each; {requests} requests, "
          f"{sent} sent (retries included)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["sns", "eventbridge"])
    ap.add_argument("record")
    ap.add_argument("log")
    ap.add_argument("events")
    ap.add_argument("--topic")
    ap.add_argument("--links")
    ap.add_argument("--restart-at", type=int)
    ap.add_argument("--bus", default="default")
    ap.add_argument("--source", default="kvs-infer")
    ap.add_argument("--detail-type", default="kvs-infer detection")
    a = ap.parse_args()
    local = {json.loads(l)["event_id"]: json.loads(l) for l in open(a.events)}
    produced = produced_ids(a.log)
    (check_sns if a.what == "sns" else check_eventbridge)(a, local, produced)


if __name__ == "__main__":
    main()
