"""Turn a CustomResourceDefinition (YAML) into the strict JSON Schema kept in this folder.

    python k8s/schemas/crd_to_jsonschema.py CRD.yaml VERSION SOURCE > k8s/schemas/<group>_<plural>.json

The CRD's openAPIV3Schema becomes a draft 2020-12 schema: descriptions are dropped (size),
`x-kubernetes-int-or-string` becomes integer-or-string, `nullable` allows null, and every object
that lists its properties (and does not preserve unknown fields) forbids others, which is what
`kubectl apply --validate=strict` reports as unknown fields. apiVersion and kind are pinned.
"""

from __future__ import annotations

import json
import sys

import yaml


def convert(node):
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "description" or key.startswith("x-kubernetes-") and key not in ("x-kubernetes-int-or-string",):
            continue
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: convert(sub) for name, sub in value.items()}
        elif key == "x-kubernetes-int-or-string":
            out["type"] = ["integer", "string"]
        else:
            out[key] = convert(value)
    if node.get("nullable"):
        out.pop("nullable")
        kinds = out.get("type")
        if isinstance(kinds, str):
            out["type"] = [kinds, "null"]
    if ("properties" in out and "additionalProperties" not in out
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def main(path: str, version: str, source: str) -> None:
    with open(path) as handle:
        crd = yaml.safe_load(handle)
    spec = crd["spec"]
    served = [v for v in spec["versions"] if v["name"] == version]
    if not served:
        raise SystemExit(f"{path} has no version {version}")
    schema = convert(served[0]["schema"]["openAPIV3Schema"])
    group = spec["group"]
    schema["properties"]["apiVersion"] = {"const": f"{group}/{version}"}
    schema["properties"]["kind"] = {"const": spec["names"]["kind"]}
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
    schema["properties"]["metadata"] = {
        "type": "object",
        "anyOf": [{"required": ["name"]}, {"required": ["generateName"]}],
        "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
                       "generateName": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9-])?$"},
                       "namespace": {"type": "string"},
                       "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                       "annotations": {"type": "object", "additionalProperties": {"type": "string"}}},
    }
    result = {"$schema": "https://json-schema.org/draft/2020-12/schema",
              "$comment": f"{spec['names']['kind']} {group}/{version}, generated from {source} "
                          "by k8s/schemas/crd_to_jsonschema.py",
              **schema}
    json.dump(result, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    main(*sys.argv[1:])
