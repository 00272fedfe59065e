#!/usr/bin/env python3
"""A CloudFormation YAML template as plain JSON: the short-form intrinsics
(!Ref, !Sub, !If, !GetAtt a.b ...) become their long form ({"Ref": ...},
{"Fn::Sub": ...}), as CloudFormation reads them.
  cfn_yaml.py TEMPLATE.yaml > TEMPLATE.json   (or load() from Python)"""
import json
import sys

import yaml


class _Loader(yaml.SafeLoader):
    pass


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        val = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        val = loader.construct_sequence(node, deep=True)
    else:
        val = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": val}
    if suffix == "Condition":
        return {"Condition": val}
    if suffix == "GetAtt" and isinstance(val, str):
        val = val.split(".", 1)
    return {"Fn::" + suffix: val}


_Loader.add_multi_constructor("!", _intrinsic)
# CloudFormation reads 2010-09-09 as a string, not a date
_Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:timestamp"]
                                   for k, v in _Loader.yaml_implicit_resolvers.items()}


def load(path):
    with open(path) as f:
        return yaml.load(f, Loader=_Loader)


if __name__ == "__main__":
    json.dump(load(sys.argv[1]), sys.stdout, indent=1)
