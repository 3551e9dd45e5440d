"""platform/ must stay a plain folder: a package named `platform` would shadow the
standard library module, and Ray puts a job's working dir first on sys.path."""

import json
import subprocess

from helpers import REPO, python_exe

# A driver that ships the repo as its job's working dir, then asks a task what `platform` is.
DRIVER = """
import json, ray
ray.init(address="local", num_cpus=1, runtime_env={"working_dir": %r}, include_dashboard=False)

@ray.remote
def probe():
    import os, platform
    import skutune
    return {"system": platform.system(), "file": platform.__file__, "cwd_has_platform": os.path.isdir("platform/skutune"), "skutune": skutune.__file__}

print("RESULT " + json.dumps(ray.get(probe.remote())))
"""


def test_platform_is_not_a_package():
    assert (REPO / "platform" / "skutune" / "__init__.py").exists()
    assert not (REPO / "platform" / "__init__.py").exists()


def test_stdlib_platform_inside_ray_task_with_working_dir(tmp_path):
    proc = subprocess.run(
        [python_exe(), "-c", DRIVER % str(REPO)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = json.loads(line[len("RESULT ") :])
    assert out["system"] == "Linux"
    assert out["file"].endswith("platform.py") and "/platform/" not in out["file"]  # the standard library's module
    assert out["cwd_has_platform"]  # the task really ran in the uploaded working dir, next to platform/
    assert out["skutune"].endswith("skutune/__init__.py")
