"""The KubeRay manifests (kuberay/): only the RayJob / RayService fields of KubeRay's v1 CRDs that
they use (a JSON Schema of those), pod templates that the Kubernetes client's models take without
dropping a field, GPUs on the worker groups, tokens only from secrets, the Serve config of
serve/config.yaml, and job commands that name shipped scripts with configs that load."""

import copy
import shlex

import jsonschema
import pytest
import yaml
from kubernetes.client import V1PersistentVolumeClaim, V1PodTemplateSpec

from helpers import REPO
from skutune.config import load_config

KUBERAY = REPO / "kuberay"
DNS = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_GROUP = {
    "rayStartParams": {"type": "object", "additionalProperties": {"type": "string"}},
    "template": {"type": "object"},  # a pod template: the Kubernetes client's models check it (pod_templates)
}
_CLUSTER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["rayVersion", "headGroupSpec", "workerGroupSpecs"],
    "properties": {
        "rayVersion": {"type": "string"},
        "enableInTreeAutoscaling": {"type": "boolean"},
        "headGroupSpec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["rayStartParams", "template"],
            "properties": {**_GROUP, "serviceType": {"enum": ["ClusterIP", "NodePort", "LoadBalancer"]}},
        },
        "workerGroupSpecs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template"],
                "properties": {
                    **_GROUP,
                    "groupName": {"type": "string", "pattern": DNS},
                    "replicas": {"type": "integer", "minimum": 0},
                    "minReplicas": {"type": "integer", "minimum": 0},
                    "maxReplicas": {"type": "integer", "minimum": 1},
                },
            },
        },
    },
}


def _resource(kind: str, spec: dict, required: list[str]) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "ray.io/v1"},
            "kind": {"const": kind},
            "metadata": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {"name": {"type": "string", "pattern": DNS}, "labels": {"type": "object"}},
            },
            "spec": {"type": "object", "additionalProperties": False, "required": required, "properties": spec},
        },
    }


SCHEMAS = {  # KubeRay v1 field names (ray-operator/apis/ray/v1): the ones these manifests use
    "RayJob": _resource(
        "RayJob",
        {
            "entrypoint": {"type": "string"},
            "shutdownAfterJobFinishes": {"type": "boolean"},
            "ttlSecondsAfterFinished": {"type": "integer", "minimum": 0},
            "backoffLimit": {"type": "integer", "minimum": 0},
            "rayClusterSpec": _CLUSTER,
        },
        ["entrypoint", "rayClusterSpec"],
    ),
    "RayService": _resource(
        "RayService",
        {"serveConfigV2": {"type": "string"}, "rayClusterConfig": _CLUSTER},
        ["serveConfigV2", "rayClusterConfig"],
    ),
}
CLUSTER_KEY = {"RayJob": "rayClusterSpec", "RayService": "rayClusterConfig"}


def load(name: str) -> dict:
    return yaml.safe_load((KUBERAY / name).read_text())


def pod_templates(manifest: dict) -> list[dict]:
    cluster = manifest["spec"][CLUSTER_KEY[manifest["kind"]]]
    return [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]


def check(manifest: dict) -> None:
    """The CRD fields through their schema; each pod template through the client's model, unchanged."""
    jsonschema.validate(manifest, SCHEMAS[manifest["kind"]])
    for template in pod_templates(manifest):
        parsed = V1PodTemplateSpec.from_dict(template).model_dump(by_alias=True, exclude_none=True, mode="json")
        assert parsed == template, "a pod template field the Kubernetes API does not have (dropped on parsing)"


@pytest.mark.parametrize("name", ["rayjob-train.yaml", "rayservice.yaml"])
def test_manifests_hold_only_known_fields(name):
    manifest = load(name)
    check(manifest)
    misspelt = copy.deepcopy(manifest)  # the check can fail: a CRD field and a pod field, misspelt
    group = misspelt["spec"][CLUSTER_KEY[manifest["kind"]]]["workerGroupSpecs"][0]
    group["minReplica"] = group.pop("minReplicas")
    with pytest.raises(jsonschema.ValidationError):
        check(misspelt)
    misspelt = copy.deepcopy(manifest)
    container = pod_templates(misspelt)[1]["spec"]["containers"][0]
    container["resource"] = container.pop("resources")
    with pytest.raises(AssertionError, match="dropped on parsing"):
        check(misspelt)


@pytest.mark.parametrize("name", ["rayjob-train.yaml", "rayservice.yaml"])
def test_gpu_workers_and_secrets(name):
    manifest = load(name)
    cluster = manifest["spec"][CLUSTER_KEY[manifest["kind"]]]
    for group in cluster["workerGroupSpecs"]:
        limits = group["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == "1" and group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    claims = {v["persistentVolumeClaim"]["claimName"] for t in pod_templates(manifest) for v in t["spec"]["volumes"]}
    assert claims == {
        V1PersistentVolumeClaim.from_dict(yaml.safe_load((KUBERAY / "runs-pvc.yaml").read_text())).metadata.name
    }
    for template in pod_templates(manifest):
        for env in template["spec"]["containers"][0].get("env", []):
            if "TOKEN" in env["name"]:  # never a literal: a secret's key
                assert "value" not in env and env["valueFrom"]["secretKeyRef"]["name"] == "skutune-tokens"


def test_rayservice_serves_serve_config_with_auth_on():
    service = yaml.safe_load(load("rayservice.yaml")["spec"]["serveConfigV2"])
    shipped = yaml.safe_load((REPO / "serve" / "config.yaml").read_text())
    apps = copy.deepcopy(service["applications"])
    options = apps[0]["deployments"][0]["ray_actor_options"]
    assert options.pop("num_gpus") == 1  # the one difference: replicas on the GPU workers take a GPU
    assert apps == shipped["applications"]
    args = service["applications"][0]["args"]
    assert service["http_options"]["host"] == "0.0.0.0" and args["auth_token_env"] == "SKUTUNE_API_TOKEN"
    head_env = {e["name"] for e in pod_templates(load("rayservice.yaml"))[0]["spec"]["containers"][0]["env"]}
    assert {"SKUTUNE_API_TOKEN", "SKUTUNE_ADMIN_TOKEN"} <= head_env  # listening on every interface needs the token


def test_rayjob_runs_shipped_jobs_with_configs_that_load():
    entry = load("rayjob-train.yaml")["spec"]["entrypoint"]
    commands = [shlex.split(c) for c in shlex.split(entry)[2].split("&&")]
    assert [c[1] for c in commands] == ["jobs/curate.py", "jobs/index.py", "jobs/train.py"]
    for c in commands:
        assert (REPO / c[1]).is_file()
        config = c[c.index("--config") + 1]
        sets = dict(c[i + 1].split("=", 1) for i, token in enumerate(c) if token == "--set")
        assert load_config(REPO / config, sets).store.name  # unknown keys or values would raise here
